"""serverless.yml's variables, resolved as the Serverless Framework v3 resolves them.

`${source:address, fallback, 'literal'}`: sources tried in order, a fallback used only when a
source finds nothing (None), a literal last; variables nest (`${self:custom.${opt:stage}}`);
a property that is one variable keeps the value's type, one inside other text becomes text
(JavaScript's String(): 1 → "1", true → "true", a list → "a,b"; an object or null is an error);
a resolved value holding variables is resolved again; `\\${` is a literal `${`. Sources: self,
opt, sls, env, file(), param, aws (region, accountId: this server's), strToBool(). Errors
carry the Framework's wording and the property's line.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firebox.deploy.yamlfile import ConfigError, Document, load

MAX_DEPTH = 10  # resolved values resolved again, at most this deep (the Framework's limit)
_SOURCE_RE = re.compile(r"[a-z][a-zA-Z0-9]*")
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)$")
REMOTE = ("ssm", "cf", "s3")  # sources that read other AWS accounts' services


class VariableError(Exception):
    """One property's variable that did not resolve."""


class VariableSyntaxError(VariableError):
    """A property whose text is not valid variable syntax."""


# ----- parsing ----------------------------------------------------------------------------------
@dataclass
class Literal:
    """A fallback given as a value ('text', "text", true, 3, null)."""

    value: Any


@dataclass
class Source:
    """`type(params):address`, each part a template (text and nested variables)."""

    type: str
    params: list[list[Any]] = field(default_factory=list)
    address: list[Any] | None = None


@dataclass
class Variable:
    """`${…}`: its sources, in order."""

    sources: list[Source | Literal]


def _starts_variable(text: str, i: int) -> bool:
    if not text.startswith("${", i):
        return False
    match = _SOURCE_RE.match(text, i + 2)
    return match is not None and match.end() < len(text) and text[match.end()] in ":("


def parse(text: str) -> list[Any]:
    """A string as literal text and Variables (raises VariableError on bad syntax)."""
    segments, end = _template(text, 0, "")
    assert end == len(text)
    return segments


def _template(text: str, i: int, stops: str) -> tuple[list[Any], int]:
    """Text and variables from i until one of `stops` at this level (or the end)."""
    segments: list[Any] = []
    buffer: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "\\" and (text.startswith("\\${", i) or text.startswith("\\\\", i)):
            backslashes = len(text[i:]) - len(text[i:].lstrip("\\"))
            if text.startswith("${", i + backslashes):  # pairs halve; an odd one escapes
                buffer.append("\\" * (backslashes // 2))
                i += backslashes
                if backslashes % 2:
                    buffer.append("${")
                    i += 2
                continue
            buffer.append("\\" * backslashes)
            i += backslashes
            continue
        if _starts_variable(text, i):
            if buffer:
                segments.append("".join(buffer))
                buffer = []
            variable, i = _variable(text, i)
            segments.append(variable)
            continue
        if char in stops:
            break
        buffer.append(char)
        i += 1
    if buffer:
        segments.append("".join(buffer))
    return segments, i


def _variable(text: str, start: int) -> tuple[Variable, int]:
    i = start + 2
    sources: list[Source | Literal] = []
    literal_at = 0  # where the last literal began: a literal must be the last source
    while True:
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text):
            raise VariableSyntaxError(f"Missing variable closing bracket in {text[start:]}")
        if sources and isinstance(sources[-1], Literal):
            raise VariableSyntaxError(
                f'Invalid variable source at index {literal_at - start} in "{text[start:]}"'
            )
        literal_at = i
        source: Source | Literal
        if text[i] in "'\"":
            source, i = _quoted(text, i)
        else:
            match = _SOURCE_RE.match(text, i)
            if match is not None and match.end() < len(text) and text[match.end()] in ":(":
                source, i = _source(text, match)
            else:
                source, i = _bare(text, i, start)
        sources.append(source)
        while i < len(text) and text[i] == " ":
            i += 1
        if i >= len(text):
            raise VariableSyntaxError(f"Missing variable closing bracket in {text[start:]}")
        if text[i] == "}":
            return Variable(sources), i + 1
        if text[i] != ",":
            raise VariableSyntaxError(
                f'Invalid variable syntax at index {i - start} in "{text[start:]}"'
            )
        i += 1


def _quoted(text: str, i: int) -> tuple[Literal, int]:
    quote = text[i]
    if quote == "'":
        end = text.find("'", i + 1)
        if end < 0:
            raise VariableSyntaxError(f"Missing closing quote in {text[i:]}")
        return Literal(text[i + 1 : end]), end + 1
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(text, i)
    except ValueError:
        raise VariableSyntaxError(f"Invalid double-quoted literal in {text[i:]}") from None
    return Literal(value), end


def _bare(text: str, i: int, start: int) -> tuple[Literal, int]:
    end = i
    while end < len(text) and text[end] not in ",}":
        end += 1
    word = text[i:end].strip()
    if word in ("true", "false"):
        return Literal(word == "true"), end
    if word == "null":
        return Literal(None), end
    if _NUMBER_RE.match(word):
        number = (
            float(int(word, 16)) if word.lower().startswith(("0x", "+0x", "-0x")) else float(word)
        )
        return Literal(int(number) if number.is_integer() else number), end
    raise VariableSyntaxError(
        f'Invalid literal source "{word}" at index {i - start} in "{text[start:]}"'
    )


def _source(text: str, match: re.Match[str]) -> tuple[Source, int]:
    source = Source(match[0])
    i = match.end()
    if text[i] == "(":
        i += 1
        while True:
            while i < len(text) and text[i] == " ":
                i += 1
            if i < len(text) and text[i] in "'\"":
                literal, i = _quoted(text, i)
                source.params.append([literal.value])
            else:
                param, i = _template(text, i, ",)")
                source.params.append(_trimmed(param))
            if i >= len(text):
                raise VariableSyntaxError(f"Missing closing parenthesis in {text[match.start() :]}")
            if text[i] == ")":
                i += 1
                break
            i += 1  # ","
        if i < len(text) and text[i] == ":":
            address, i = _template(text, i + 1, ",}")
            source.address = _trimmed(address)
        return source, i
    address, i = _template(text, i + 1, ",}")
    source.address = _trimmed(address)
    return source, i


def _trimmed(segments: list[Any]) -> list[Any]:
    if segments and isinstance(segments[0], str):
        segments[0] = segments[0].lstrip()
    if segments and isinstance(segments[-1], str):
        segments[-1] = segments[-1].rstrip()
    return [s for s in segments if s != ""]


# ----- resolution -------------------------------------------------------------------------------
@dataclass
class Context:
    """What the sources read besides the configuration itself."""

    service_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)  # stage, region, param: ["k=v"]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    account_id: str = "000000000000"
    clock: Callable[[], float] = time.time


class Resolver:
    """Resolves every variable of one configuration, property by property."""

    def __init__(self, document: Document, context: Context) -> None:
        self.document = document
        self.context = context
        self.config = document.data
        self._done: dict[Key, Any] = {}
        self._resolving: list[Key] = []
        self._files: dict[Path, Any] = {}
        self._eventual: str | None = None
        self._failed: dict[Key, VariableError] = {}

    def resolve(self) -> Any:
        """The whole configuration resolved; ConfigError listing every property that failed."""
        errors: list[str] = []
        result = self._walk(self.config, (), errors)
        if errors:
            listed = ",\n  - ".join(errors)
            raise ConfigError(
                f"Cannot resolve serverless.yml: Variables resolution errored with:\n  - {listed}"
            )
        return result

    def _walk(self, value: Any, path: Key, errors: list[str]) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, (*path, k), errors) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, (*path, str(i)), errors) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            try:
                return self.property(path)
            except RecursionError:
                errors.append(f'Cannot resolve variable at "{_shown(path)}": nested too deeply')
                return None
            except VariableError as exc:
                if getattr(exc, "origin", path) != path:
                    return None  # another property's failure: reported there
                line = self.document.line_of(path)
                raw = self._raw(path)  # the variable as written, which names it
                shown = f": {raw}" if isinstance(raw, str) and len(raw) <= 200 else ""
                where = f" (serverless.yml line {line}{shown})" if line else ""
                what = "Variable syntax error" if isinstance(exc, VariableSyntaxError) else (
                    "Cannot resolve variable")  # fmt: skip
                errors.append(f'{what} at "{_shown(path)}": {exc}{where}')
                return None
        return value

    def property(self, path: Key) -> Any:
        """One property's value, its variables resolved (what `${self:path}` reads)."""
        if path in self._done:
            return self._done[path]
        if path in self._failed:
            raise self._failed[path]
        if path in self._resolving:
            if self._resolving[-1] == path:
                raise VariableError(f'Circular reference. "{_shown(path)}" refers to itself')
            raise VariableError(
                f'Circular reference among "{_shown(self._resolving[-1])}" and '
                f'"{_shown(path)}" properties'
            )
        raw = self._raw(path)
        self._resolving.append(path)
        try:
            value = self._deep(raw, path, 0)
        except VariableError as exc:
            # Reported once, at the property whose own variable failed (`origin`): those
            # that only refer to it fail with it, silently, as in the Framework.
            if getattr(exc, "origin", None) is None:
                exc.origin = path  # type: ignore[attr-defined]
            self._failed[path] = exc
            raise
        finally:
            self._resolving.pop()
        self._done[path] = value
        return value

    def _raw(self, path: Key) -> Any:
        return _dig(self.config, path)

    def _deep(self, value: Any, path: Key, depth: int) -> Any:
        """A value with every variable in it resolved (strings resolved again if need be)."""
        if isinstance(value, dict):
            return {k: self._child(v, (*path, k), depth) for k, v in value.items()}
        if isinstance(value, list):
            return [self._child(v, (*path, str(i)), depth) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            if depth > MAX_DEPTH:
                raise VariableError("Excessive property variables nest depth")
            return self._string(value, depth)
        return value

    def _child(self, value: Any, path: Key, depth: int) -> Any:
        # Children of the configuration itself go through property() (memoised, cycles
        # caught); values that came from elsewhere (a file, a resolved object) do not.
        if self._raw(path) is value and depth == 0:
            return self.property(path)
        return self._deep(value, path, depth)

    def _string(self, text: str, depth: int = 0) -> Any:
        segments = parse(text)
        if len(segments) == 1 and isinstance(segments[0], Variable):
            return self._variable(segments[0], depth)
        parts = []
        for segment in segments:
            if isinstance(segment, str):
                parts.append(segment)
            else:
                parts.append(_as_text(self._variable(segment, depth)))
        return "".join(parts)

    def _text(self, segments: list[Any], depth: int) -> str:
        """A template (an address, a parameter) as text."""
        return "".join(
            s if isinstance(s, str) else _as_text(self._variable(s, depth)) for s in segments
        )

    def _variable(self, variable: Variable, depth: int) -> Any:
        last = ""
        for source in variable.sources:
            if isinstance(source, Literal):
                return self._deep(source.value, (), depth + 1)
            last = source.type
            self._eventual = None
            value = self._source(source, depth)
            if value is not None:
                # What a source found may hold variables itself (a file's, an env value's, an
                # escaped one's): resolved in turn. A copy: each reference is a value of its own.
                return self._deep(copy.deepcopy(value), (), depth + 1)
        if self._eventual is not None:  # the last source's own word for finding nothing
            raise VariableError(self._eventual)
        raise VariableError(f'Value not found at "{last}" source')

    def _source(self, source: Source, depth: int) -> Any:
        address = self._text(source.address, depth) if source.address is not None else None
        params = [
            p[0] if len(p) == 1 and not isinstance(p[0], (str, Variable)) else self._text(p, depth)
            for p in source.params
        ]
        if address and len(address) > 1 and address[0] == address[-1] and address[0] in "'\"":
            address = address[1:-1]  # `${self:'custom.x'}`: a quoted address
        kind = source.type
        if kind == "self":
            return self.property(tuple(address.split(".")) if address else ())
        if kind == "opt":
            return self.context.options.get(address) if address else dict(self.context.options)
        if kind in ("env", "sls", "aws", "param") and not address:
            raise VariableError(f'Missing address argument in variable "{kind}" source')
        if kind == "env":
            return self.context.environ.get(address or "")
        if kind == "sls":
            if address == "stage":
                return self.stage()
            if address == "instanceId":
                return str(int(self.context.clock() * 1000))
            raise VariableError(
                f'Unsupported "{address}" address argument in variable "sls" source'
            )
        if kind == "aws":
            if address == "region":
                return self.region()
            if address == "accountId":
                return self.context.account_id
            raise VariableError(
                f'Unsupported "{address}" address argument in variable "aws" source'
            )
        if kind == "param":
            return self._param(address or "")
        if kind == "file":
            return self._file(params, address)
        if kind == "strToBool":
            return _to_bool(params[0] if params else None)
        if kind in REMOTE:
            raise VariableError(
                f'firebox does not resolve "{kind}" variables (they read another AWS '
                "account's services): give a fallback, or the value itself"
            )
        raise VariableError(f'Unrecognized configuration variable sources: "{kind}"')

    def stage(self) -> str:
        """`--stage`, else provider.stage, else dev (what ${sls:stage} is)."""
        return self._given_or_provider("stage", "dev")

    def region(self) -> str:
        """`--region`, else provider.region, else us-east-1 (what ${aws:region} is)."""
        return self._given_or_provider("region", "us-east-1")

    def _given_or_provider(self, key: str, default: str) -> str:
        given = self.context.options.get(key)
        if given:
            return str(given)
        provider = self.config.get("provider")
        value = self.property(("provider", key)) if isinstance(provider, dict) else None
        return str(value) if value else default

    def _param(self, name: str) -> Any:
        for entry in self.context.options.get("param") or ():
            key, _, value = str(entry).partition("=")
            if key == name:
                return value
        params = self.property(("params",)) if isinstance(self.config.get("params"), dict) else {}
        for stage in (self.stage(), "default"):
            values = params.get(stage) if isinstance(params, dict) else None
            if isinstance(values, dict) and values.get(name) is not None:
                return values[name]
        # Not an error yet: a fallback may follow (this is the error if none does).
        self._eventual = (
            f'The param "{name}" cannot be resolved from CLI options or stage params. If you '
            "are using Serverless Framework Compose, make sure to run commands via Compose so "
            "that all parameters can be resolved"
        )
        return None

    def _file(self, params: list[Any], address: str | None) -> Any:
        if not params or not params[0]:
            raise VariableError('Missing path argument in variable "file" source')
        path = (self.context.service_dir / str(params[0])).resolve()
        if path not in self._files:
            self._files[path] = self._read(path)
        return _dig(self._files[path], tuple(address.split(".")) if address else ())

    def _read(self, path: Path) -> Any:
        if not path.exists():
            return None
        try:
            return self._parse(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise VariableError(f'Cannot parse "{path.name}": {reason}') from None

    def _parse(self, path: Path) -> Any:
        suffix = path.suffix  # (case counts: the Framework reads `x.YML` as text)
        if suffix in (".yml", ".yaml"):
            try:
                return load(path).data
            except ConfigError as exc:
                raise VariableError(str(exc)) from None
        if suffix in (".json", ".tfstate"):
            try:
                return json.loads(path.read_text())
            except ValueError as exc:
                raise VariableError(f'Cannot parse "{path.name}": {exc}') from None
        if suffix.lower() in (".js", ".cjs", ".mjs", ".ts"):
            raise VariableError(
                f'"{path.name}": firebox does not run JavaScript variable files; use a YAML or '
                "JSON file, or the value itself"
            )
        return path.read_text()


Key = tuple[str, ...]  # a property's path: keys may hold dots (method.request.querystring.x)


def _dig(value: Any, path: Key) -> Any:
    """What a path leads to inside a value (list items by number), or None."""
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _shown(path: Key) -> str:
    """A path as the Framework's messages show it."""
    return ".".join(path)


def _as_text(value: Any) -> str:
    """A value inside a string, as JavaScript's String() writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        mantissa, _, exponent = repr(value).partition("e")  # JavaScript: 1.5e-7, 1e+21
        return f"{mantissa}e{int(exponent):+d}".replace("e+-", "e-") if exponent else mantissa
    if isinstance(value, list):
        return ",".join(
            "" if v is None else "[object Object]" if isinstance(v, dict) else _as_text(v)
            for v in value
        )
    raise VariableError("String value consist of variable which resolve with non-string value")


def _to_bool(value: Any) -> bool:
    """strToBool(): "true"/"1" or "false"/"0" (any case, spaces trimmed)."""
    if value is None or value is False:  # (an unquoted false is no input to the Framework)
        raise VariableError('Missing "strToBool" input')
    text = _as_text(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise VariableError(
        'Invalid "strToBool" input: Expected either "true", "false", "0", or "1". '
        f"Received: {value}"
    )


def resolve(document: Document, context: Context) -> Any:
    """The configuration with its variables resolved (ConfigError if any does not)."""
    return Resolver(document, context).resolve()

"""serverless.yml as the Framework reads it: YAML 1.2 (`yes` stays a string), CloudFormation's
short tags as their long forms (`!GetAtt A.Arn` → {"Fn::GetAtt": ["A", "Arn"]}), and where
each property is, so an error can name its line."""

from __future__ import annotations

import datetime
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The tags the Framework's schema adds (serverless/utils, cloudformation-schema.js).
FUNCTIONS = ("And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If",
             "ImportValue", "Join", "Not", "Or", "Select", "Split", "Sub")  # fmt: skip


class ConfigError(Exception):
    """A serverless.yml (or a file it includes) that cannot be read or resolved."""


@dataclass
class Document:
    """A loaded YAML file: its data (plain dicts, lists and scalars) and each property's line."""

    data: Any
    # ("functions", "hello", "handler") → its line, 1-based
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str, ...]) -> int | None:
        """The line of a property, or of the nearest enclosing one that has a line."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # round-trip: keeps line numbers
    yaml.version = (1, 2)
    for name in ("Ref", "Condition", *FUNCTIONS):
        yaml.constructor.add_constructor(f"!{name}", _intrinsic(name))
    yaml.constructor.add_multi_constructor("!", _unknown)  # every other local tag
    return yaml


def _unknown(constructor: Any, suffix: str, node: Node) -> Any:
    raise ConstructorError(None, None, f"unknown tag !<!{suffix}>", node.start_mark)


def _intrinsic(name: str) -> Any:
    key = name if name in ("Ref", "Condition") else f"Fn::{name}"

    def construct(constructor: Any, node: Node) -> dict[str, Any]:
        if isinstance(node, ScalarNode):
            value: Any = constructor.construct_scalar(node)
            if name == "GetAtt":  # `!GetAtt A.B.C` is ["A", "B.C"]: split at the first dot
                value = str(value).split(".", 1)
        elif isinstance(node, SequenceNode):
            value = [_plain(v) for v in constructor.construct_rt_sequence(node, CommentedSeq())]
        elif isinstance(node, MappingNode):
            mapping = CommentedMap()
            constructor.construct_mapping(node, mapping, deep=True)
            value = _plain(mapping)
        else:  # pragma: no cover - YAML has no other node kinds
            raise ConstructorError(None, None, f"unexpected node for !{name}", node.start_mark)
        return {key: value}

    return construct


def _plain(value: Any) -> Any:
    """ruamel's round-trip containers (and scalar subclasses) as plain Python values."""
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # (JSON has no infinity or NaN: the Framework's round trip through it makes them null)
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.datetime):  # JavaScript's toISOString(), as the Framework's
        moment = value.astimezone(datetime.UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, datetime.date):
        return value.isoformat() + "T00:00:00.000Z"
    raise ConstructorError(None, None, f"a value firebox cannot read: {type(value).__name__}", None)


def _key(key: Any) -> str:
    """A mapping key as JavaScript sees it: true → "true", null → "null"."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(_plain(key)) if not isinstance(key, str) else str(key)


def _lines(value: Any, prefix: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    if isinstance(value, CommentedMap):
        for key, item in value.items():
            path = (*prefix, _key(key))
            position = value.lc.data.get(key)  # (none for keys a `<<` merge brought)
            if position is not None:
                out[path] = position[0] + 1
            _lines(item, path, out)
    elif isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            path = (*prefix, str(index))
            position = value.lc.data.get(index)
            if position is not None:
                out[path] = position[0] + 1
            _lines(item, path, out)


def load_text(text: str, name: str = "serverless.yml") -> Document:
    """Parses YAML text; ConfigError (with the line) if it is not valid."""
    try:
        data = _yaml().load(io.StringIO(text))
        lines: dict[tuple[str, ...], int] = {}
        _lines(data, (), lines)
        return Document(_plain(data), lines)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f'Cannot parse "{name}"{where}: {exc.problem or exc}') from None
    except RecursionError:
        raise ConfigError(f'Cannot parse "{name}": nested too deeply') from None


def load(path: Path) -> Document:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f'Cannot read "{path}": {exc.strerror}') from None
    except UnicodeDecodeError:
        raise ConfigError(f'Cannot read "{path}": it is not UTF-8 text') from None
    return load_text(text, path.name)

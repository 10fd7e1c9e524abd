"""CloudWatch Logs filter patterns: terms (all of them), "quoted phrases", `?term`
alternatives, `-term` exclusions, and JSON patterns such as `{ $.level = "ERROR" }` with
`&&`, `||`, parentheses, comparisons, `IS NULL`, `EXISTS` and `NOT EXISTS`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[str], bool]
_TOKEN = re.compile(r'\s*(?:(\|\||&&|\(|\)|!=|<=|>=|=|<|>)|("(?:[^"\\]|\\.)*")|([^\s()=!<>&|"]+))')
_MISSING = object()


class PatternError(ValueError):
    """Not a filter pattern CloudWatch Logs would accept."""


def compile_pattern(text: str | None) -> Matcher | None:
    """A test of one log line, or None for an empty pattern (everything matches)."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.startswith("{"):
        if not text.endswith("}"):
            raise PatternError("Invalid character(s) in term")
        return _JsonParser(text[1:-1]).parse()
    if text.startswith("["):
        raise PatternError("firebox does not read space-delimited patterns ([...]) yet")
    return _terms(text)


def _terms(text: str) -> Matcher:
    required: list[str] = []
    alternatives: list[str] = []
    excluded: list[str] = []
    for match in re.finditer(r'([?-]?)("(?:[^"\\]|\\.)*"|\S+)', text):
        sign, term = match[1], match[2]
        if term.startswith('"'):
            term = json.loads(term)
        (alternatives if sign == "?" else excluded if sign == "-" else required).append(term)

    def matches(line: str) -> bool:
        return (all(t in line for t in required) and not any(t in line for t in excluded)
                and (not alternatives or any(t in line for t in alternatives)))  # fmt: skip

    return matches


class _JsonParser:
    """A JSON pattern's expression, read by recursive descent."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise PatternError(f"Invalid character(s) in term at {text[position:][:20]!r}")
            self.tokens.append(next(g for g in found.groups() if g is not None))
            position = found.end()
        self.at = 0

    def parse(self) -> Matcher:
        test = self._or()
        if self.at != len(self.tokens):
            raise PatternError(f"Unexpected {self.tokens[self.at]!r} in the pattern")

        def matches(line: str) -> bool:
            try:
                document = json.loads(line)
            except ValueError:
                return False
            return test(document)

        return matches

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise PatternError("The pattern ends too early")
        self.at += 1
        return token

    def _or(self) -> Callable[[Any], bool]:
        parts = [self._and()]
        while self._peek() == "||":
            self._take()
            parts.append(self._and())
        return lambda doc: any(p(doc) for p in parts)

    def _and(self) -> Callable[[Any], bool]:
        parts = [self._atom()]
        while self._peek() == "&&":
            self._take()
            parts.append(self._atom())
        return lambda doc: all(p(doc) for p in parts)

    def _atom(self) -> Callable[[Any], bool]:
        if self._peek() == "(":
            self._take()
            inner = self._or()
            if self._take() != ")":
                raise PatternError("Missing )")
            return inner
        selector = self._take()
        if not selector.startswith("$"):
            raise PatternError(f"A JSON pattern compares a selector ($.key), not {selector!r}")
        path = _path(selector)
        word = self._take()
        if word.upper() == "IS":
            value = self._take().upper()
            wanted = {"NULL": None, "TRUE": True, "FALSE": False}
            if value not in wanted:
                raise PatternError("IS takes NULL, TRUE or FALSE")
            return lambda doc: _dig(doc, path) is wanted[value] if value != "NULL" else (
                _dig(doc, path) is None)  # fmt: skip
        if word.upper() == "NOT" and (self._peek() or "").upper() == "EXISTS":
            self._take()
            return lambda doc: _dig(doc, path) is _MISSING
        if word.upper() == "EXISTS":
            return lambda doc: _dig(doc, path) is not _MISSING
        if word not in ("=", "!=", "<", ">", "<=", ">="):
            raise PatternError(f"Unknown operator {word!r}")
        raw = self._take()
        return _comparison(path, word, raw)


def _path(selector: str) -> list[str | int]:
    steps: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", selector[1:]):
        steps.append(int(index) if index else name)
    if not steps and selector != "$":
        raise PatternError(f"Invalid selector {selector!r}")
    return steps


def _dig(document: Any, path: list[str | int]) -> Any:
    """The value a selector names, or _MISSING."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return _MISSING
            document = document[step]
            continue
        if not isinstance(document, dict) or step not in document:
            return _MISSING
        document = document[step]
    return document


def _comparison(path: list[str | int], op: str, raw: str) -> Callable[[Any], bool]:
    if raw.startswith('"'):
        text: str | None = json.loads(raw)
        number = None
    else:
        try:
            number, text = float(raw), None
        except ValueError:
            number, text = None, raw  # a bare word: a string
    if text is not None and op not in ("=", "!="):
        raise PatternError(f"{op} compares numbers, not {raw}")
    # `*` is the one wildcard of a string value
    wildcard = re.compile(re.escape(text or "").replace(r"\*", ".*"), re.DOTALL)

    def test(doc: Any) -> bool:
        value = _dig(doc, path)
        if value is _MISSING:
            return False
        if text is not None:
            same = isinstance(value, str) and wildcard.fullmatch(value) is not None
            return same if op == "=" else not same
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return op == "!="
        assert number is not None
        return {"=": value == number, "!=": value != number, "<": value < number,
                ">": value > number, "<=": value <= number, ">=": value >= number}[op]  # fmt: skip

    return test

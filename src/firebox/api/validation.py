"""Checks request members against an operation's input shape, as AWS's front end does.

Each shape of a model compiles once into a checker. A checker raises `TypeMismatch` for a
value that cannot be the member's type (AWS's deserialiser stops at the first), and collects
`Violation`s of the model's constraints (AWS reports them all, in one message).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape

# What an error message quotes of a bad value: a 20 MB member must not become a 20 MB answer.
MAX_QUOTED = 256


@dataclass(frozen=True)
class Violation:
    """A member outside its model's constraints."""

    path: str
    value: object
    constraint: str


class TypeMismatch(Exception):
    """A member whose wire value cannot be its model's type."""

    def __init__(self, path: str, expected: str, value: object) -> None:
        super().__init__(f"{path}: expected {expected}")
        self.path, self.expected, self.value = path, expected, value

    def describe(self) -> str:
        return (
            f"Unexpected value for '{self.path}': expected {self.expected}, got {_kind(self.value)}"
        )


Checker = Callable[[Any, str, list[Violation]], None]
# Values a server adds to a model's enum by shape name: the runtimes an operator maps with
# `firebox serve --runtime NAME=INTERPRETER` are runtimes of that server.
EXTRA_ENUMS: dict[str, set[str]] = {}


def extend_enum(shape_name: str, values: Iterable[str]) -> None:
    """Lets a model's enum (e.g. Runtime) take values beyond AWS's own."""
    EXTRA_ENUMS.setdefault(shape_name, set()).update(values)


def _kind(value: object) -> str:
    """How a JSON value is called in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def render(value: object, budget: int = MAX_QUOTED) -> str:
    """A value as AWS's (Java) messages print it, cut to a bounded prefix."""
    parts: list[str] = []
    used = 0

    def put(text: str) -> bool:
        nonlocal used
        parts.append(text)
        used += len(text)
        return used <= budget

    def walk(item: object) -> bool:
        if isinstance(item, bool):
            return put("true" if item else "false")
        if item is None:
            return put("null")
        if isinstance(item, list):
            if not put("["):
                return False
            for i, element in enumerate(item):
                if (i and not put(", ")) or not walk(element):
                    return False
            return put("]")
        if isinstance(item, dict):
            if not put("{"):
                return False
            for i, (key, element) in enumerate(item.items()):
                if (i and not put(", ")) or not put(f"{key}=") or not walk(element):
                    return False
            return put("}")
        return put(str(item)[: budget + 1])

    walk(value)
    text = "".join(parts)
    if len(text) > budget:
        return text[:budget] + "…(truncated)"
    return text


def describe(violations: list[Violation]) -> str:
    """AWS's wording of one or more constraint violations: the one place it is built."""
    count = len(violations)
    items = "; ".join(
        f"Value {'null' if v.value is None else repr_value(v.value)} at '{v.path}' failed to "
        f"satisfy constraint: {v.constraint}"
        for v in violations
    )
    return f"{count} validation error{'s' if count != 1 else ''} detected: {items}"


def repr_value(value: object) -> str:
    return f"'{render(value)}'"


def java_pattern(pattern: str) -> Callable[[str], bool]:
    """A model's (Java) regular expression as a whole-string matcher (Java's `matches`)."""
    try:
        compiled: Any = re.compile(pattern)
    except re.error:  # \p{L} and friends: the regex module speaks them
        compiled = regex.compile(pattern)
    fullmatch = compiled.fullmatch
    return lambda text: fullmatch(text) is not None


def member_path(parent: str, name: str) -> str:
    """AWS names members in messages by their name with a lower-case first letter."""
    child = name[:1].lower() + name[1:]
    return f"{parent}.{child}" if parent else child


class Compiler:
    """Compiles shapes into checkers, each shape once (recursive shapes included)."""

    def __init__(self) -> None:
        self._done: dict[str, Checker] = {}

    def checker(self, shape: Shape) -> Checker:
        key = shape.name
        if key in self._done:
            return self._done[key]
        slot: list[Checker] = []
        # A recursive shape meets itself before it is built: it calls through the slot.
        self._done[key] = lambda value, path, out: slot[0](value, path, out)
        built = self._build(shape)
        slot.append(built)
        self._done[key] = built
        return built

    def _build(self, shape: Shape) -> Checker:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self._structure(shape)
        if kind == "list":
            assert isinstance(shape, ListShape)
            return self._list(shape)
        if kind == "map":
            assert isinstance(shape, MapShape)
            return self._map(shape)
        if kind == "string":
            return _string(shape)
        if kind in ("integer", "long"):
            return _number(shape, integral=True)
        if kind in ("float", "double"):
            return _number(shape, integral=False)
        if kind == "boolean":
            return _boolean
        if kind == "blob":
            return _blob
        if kind == "timestamp":
            return _timestamp
        return _anything  # documents: any JSON value

    def _structure(self, shape: StructureShape) -> Checker:
        if shape.metadata.get("document"):
            return _anything
        members = [(name, self.checker(member)) for name, member in shape.members.items()]
        required = tuple(shape.required_members)

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if type(value) is not dict:
                raise TypeMismatch(path or "body", "an object", value)
            for name in required:
                if value.get(name) is None:
                    out.append(Violation(member_path(path, name), None, "Member must not be null"))
            for name, member_check in members:
                item = value.get(name)
                if item is not None:
                    member_check(item, member_path(path, name), out)

        return check

    def _list(self, shape: ListShape) -> Checker:
        element = self.checker(shape.member)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if type(value) is not list:
                raise TypeMismatch(path, "a list", value)
            _length(value, len(value), low, high, path, out)
            for i, item in enumerate(value):
                if item is None:
                    raise TypeMismatch(f"{path}.{i + 1}.member", "a value", item)
                element(item, f"{path}.{i + 1}.member", out)

        return check

    def _map(self, shape: MapShape) -> Checker:
        key_check, value_check = self.checker(shape.key), self.checker(shape.value)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if type(value) is not dict:
                raise TypeMismatch(path, "a map", value)
            _length(value, len(value), low, high, path, out)
            key_faults: list[Violation] = []
            value_faults: list[Violation] = []
            for key, item in value.items():
                key_check(key, path, key_faults)
                if item is None:
                    raise TypeMismatch(path, "a value for every key", item)
                value_check(item, path, value_faults)
            # AWS words constraints on a map's keys and values as one per map.
            for label, faults in (("keys", key_faults), ("value", value_faults)):
                if faults:
                    constraints = ", ".join(dict.fromkeys(f.constraint for f in faults))
                    out.append(
                        Violation(
                            path, value, f"Map {label} must satisfy constraint: [{constraints}]"
                        )
                    )

        return check


def _length(
    value: object, size: int, low: int | None, high: int | None, path: str, out: list[Violation]
) -> None:
    if low is not None and size < low:
        out.append(
            Violation(path, value, f"Member must have length greater than or equal to {low}")
        )
    if high is not None and size > high:
        out.append(Violation(path, value, f"Member must have length less than or equal to {high}"))


def _string(shape: Shape) -> Checker:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    enum = shape.metadata.get("enum")
    allowed = frozenset(enum) if enum else None
    extra = EXTRA_ENUMS.setdefault(shape.name, set())  # read at each check: it may grow
    enum_text = f"Member must satisfy enum value set: [{', '.join(enum)}]" if enum else ""
    raw_pattern = shape.metadata.get("pattern")
    matches = java_pattern(raw_pattern) if raw_pattern else None

    def check(value: Any, path: str, out: list[Violation]) -> None:
        if type(value) is not str:
            raise TypeMismatch(path, "a string", value)
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:  # a lone surrogate ("\ud800"): not text anywhere else
                raise TypeMismatch(path, "valid Unicode text", value) from None
        if low is not None or high is not None:
            _length(value, len(value), low, high, path, out)
        if allowed is not None and value not in allowed and value not in extra:
            out.append(Violation(path, value, enum_text))
        if matches is not None and not matches(value):
            out.append(Violation(
                path, value, f"Member must satisfy regular expression pattern: {raw_pattern}"
            ))  # fmt: skip

    return check


def _number(shape: Shape, *, integral: bool) -> Checker:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    expected = "an integer" if integral else "a number"

    def check(value: Any, path: str, out: list[Violation]) -> None:
        kind = type(value)
        if kind is not int and (integral or kind is not float or not math.isfinite(value)):
            raise TypeMismatch(path, expected, value)
        if low is not None and value < low:
            out.append(
                Violation(path, value, f"Member must have value greater than or equal to {low}")
            )
        if high is not None and value > high:
            out.append(
                Violation(path, value, f"Member must have value less than or equal to {high}")
            )

    return check


def _boolean(value: Any, path: str, out: list[Violation]) -> None:
    if type(value) is not bool:
        raise TypeMismatch(path, "a boolean", value)


def _blob(value: Any, path: str, out: list[Violation]) -> None:
    if type(value) is not str and type(value) is not bytes:  # base64 text in JSON
        raise TypeMismatch(path, "base64 text", value)


def _timestamp(value: Any, path: str, out: list[Violation]) -> None:
    if type(value) not in (int, float, str):
        raise TypeMismatch(path, "a timestamp", value)


def _anything(value: Any, path: str, out: list[Violation]) -> None:
    return None

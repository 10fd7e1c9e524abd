"""Event patterns: the matching syntax shared by Lambda's event filters, EventBridge rules and
SNS filter policies (built once, here).

A pattern is an object whose keys follow the event's; at a leaf, a list of matchers any of
which may match: a value (equal; numbers by value), or `prefix`, `suffix`, `anything-but`,
`numeric`, `exists`, `equals-ignore-case`, `wildcard`, `cidr`. `$or` takes a list of
patterns. An event value that is a list matches if any of its items does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_OPERATORS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
              ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}  # fmt: skip


class PatternError(ValueError):
    """A pattern the syntax does not allow."""


def check(pattern: object) -> dict[str, Any]:
    """The pattern, if well-formed; raises PatternError saying what is wrong."""
    if not isinstance(pattern, dict):
        raise PatternError("Filter pattern must be a JSON object")
    _check_object(pattern, "")
    return pattern


def _check_object(pattern: Mapping[str, Any], path: str) -> None:
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise PatternError("$or must be a list of at least two patterns")
            for option in value:
                if not isinstance(option, dict):
                    raise PatternError("$or must be a list of patterns")
                _check_object(option, path)
        elif isinstance(value, dict):
            _check_object(value, where)
        elif isinstance(value, list):
            if not value:
                raise PatternError(f"Empty arrays are not allowed ({where})")
            for matcher in value:
                _check_matcher(matcher, where)
        else:
            raise PatternError(f"Match value must be an array or an object ({where})")


def _check_matcher(matcher: object, where: str) -> None:
    if matcher is None or isinstance(matcher, (str, int, float, bool)):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise PatternError(f"Unrecognized match type at {where}")
    ((kind, value),) = matcher.items()
    if kind in ("prefix", "suffix"):
        if isinstance(value, dict) and set(value) == {"equals-ignore-case"}:
            value = value["equals-ignore-case"]
        if not isinstance(value, str):
            raise PatternError(f"{kind} match pattern must be a string at {where}")
    elif kind in ("equals-ignore-case", "wildcard"):
        if not isinstance(value, str):
            raise PatternError(f"{kind} match pattern must be a string at {where}")
    elif kind == "exists":
        if not isinstance(value, bool):
            raise PatternError(f"exists match pattern must be either true or false at {where}")
    elif kind == "numeric":
        if not isinstance(value, list) or not value or len(value) % 2:
            raise PatternError(f"Value of numeric must be an array of operator/number pairs at "
                               f"{where}")  # fmt: skip
        for operator, number in zip(value[::2], value[1::2], strict=True):
            if (
                operator not in _OPERATORS
                or isinstance(number, bool)
                or not isinstance(number, (int, float))
            ):
                raise PatternError(f"Bad numeric range at {where}")
    elif kind == "anything-but":
        if isinstance(value, dict):
            inner = ("prefix", "suffix", "equals-ignore-case", "wildcard")
            if len(value) != 1 or next(iter(value)) not in inner:
                raise PatternError(f"Unsupported anything-but pattern at {where}")
            inner_value = next(iter(value.values()))
            listed = isinstance(inner_value, list) and inner_value
            if not isinstance(inner_value, str) and not (
                listed and all(isinstance(v, str) for v in inner_value)
            ):  # AWS takes one string or a list of them
                raise PatternError(f"anything-but {next(iter(value))} must be a string or a list "
                                   f"of strings at {where}")  # fmt: skip
        elif isinstance(value, list):
            if not value or not all(isinstance(v, (str, int, float)) for v in value):
                raise PatternError(f"Inside anything-but list, only strings and numbers at "
                                   f"{where}")  # fmt: skip
        elif not isinstance(value, (str, int, float)):
            raise PatternError(f"Unsupported anything-but pattern at {where}")
    elif kind == "cidr":
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise PatternError(f"Malformed CIDR at {where}") from None
    else:
        raise PatternError(f"Unrecognized match type {kind} at {where}")


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether the event matches every field of the pattern (and one option of each $or)."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING or not matches(expected, value):
                return False
        elif not _leaf(expected, value):
            return False
    return True


def _leaf(matchers: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for matcher in matchers:
        if isinstance(matcher, dict) and "exists" in matcher:
            if (value is not _MISSING) == matcher["exists"]:
                return True
            continue
        if value is _MISSING:
            continue
        if any(_one(matcher, v) for v in values):
            return True
    return False


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if isinstance(matcher, bool) or isinstance(value, bool):
            return matcher is value if isinstance(value, bool) else False
        if isinstance(matcher, (int, float)) and isinstance(value, (int, float)):
            return float(matcher) == float(value)
        return bool(matcher == value)
    ((kind, expected),) = matcher.items()
    if kind == "prefix":
        return _affix(expected, value, str.startswith)
    if kind == "suffix":
        return _affix(expected, value, str.endswith)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == expected.lower()
    if kind == "wildcard":
        return isinstance(value, str) and _wildcard(expected).fullmatch(value) is not None
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return all(_OPERATORS[op](value, number)
                   for op, number in zip(expected[::2], expected[1::2], strict=True))  # fmt: skip
    if kind == "anything-but":
        if isinstance(expected, dict):
            ((inner, given),) = expected.items()
            options = given if isinstance(given, list) else [given]
            return isinstance(value, str) and not any(_one({inner: o}, value) for o in options)
        excluded = expected if isinstance(expected, list) else [expected]
        return not any(_one(e, value) for e in excluded)
    if kind == "cidr":
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(expected, strict=False)
        except ValueError:
            return False
    return False


def _affix(expected: Any, value: Any, test: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(expected, dict):  # {"prefix": {"equals-ignore-case": "..."}}
        return bool(test(value.lower(), str(expected["equals-ignore-case"]).lower()))
    return bool(test(value, expected))


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern), re.DOTALL)

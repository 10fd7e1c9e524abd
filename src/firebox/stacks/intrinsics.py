"""CloudFormation's intrinsic functions, resolved against what a stack has made so far."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firebox.stacks.errors import template_error, validation

_NO_VALUE = object()  # Ref AWS::NoValue: the property is left out


class Unknown(Exception):
    """A value that exists only once a resource is made (met while planning)."""

    def __init__(self, logical_id: str) -> None:
        super().__init__(logical_id)
        self.logical_id = logical_id


@dataclass(frozen=True)
class Scope:
    """What names resolve to: pseudo parameters, each made resource's Ref and attributes."""

    pseudo: dict[str, Any]
    ref: Callable[[str], Any]  # raises Unknown for a resource not made yet
    attribute: Callable[[str, str], Any]


def resolve(value: Any, scope: Scope) -> Any:
    """`value` with every intrinsic function replaced by its result."""
    result = _resolve(value, scope)
    return None if result is _NO_VALUE else result


def _resolve(value: Any, scope: Scope) -> Any:
    if isinstance(value, list):
        return [v for v in (_resolve(item, scope) for item in value) if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, arg),) = value.items()
        function = _FUNCTIONS.get(key)
        if function is not None:
            return function(arg, scope)
    out = {}
    for key, item in value.items():
        resolved = _resolve(item, scope)
        if resolved is not _NO_VALUE:
            out[key] = resolved
    return out


def _ref(arg: Any, scope: Scope) -> Any:
    if not isinstance(arg, str):
        raise template_error("Template error: every Ref object must have a single String value.")
    if arg == "AWS::NoValue":
        return _NO_VALUE
    if arg in scope.pseudo:
        return scope.pseudo[arg]
    return scope.ref(arg)


def _get_att(arg: Any, scope: Scope) -> Any:
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str):
        raise template_error("Template error: every Fn::GetAtt object requires two non-empty "
                             "parameters.")  # fmt: skip
    name = _resolve(arg[1], scope)
    return scope.attribute(str(arg[0]), str(name))


def _join(arg: Any, scope: Scope) -> str:
    if not isinstance(arg, list) or len(arg) != 2:
        raise template_error(
            "Template error: every Fn::Join object requires two parameters, "
            "(1) a string delimiter and (2) a list of strings to be joined"
        )
    items = _resolve(arg[1], scope)
    if not isinstance(items, list):
        raise template_error("Template error: Fn::Join's second parameter must be a list")
    return str(arg[0]).join(_text(item) for item in items)


def _sub(arg: Any, scope: Scope) -> str:
    if isinstance(arg, str):
        text, names = arg, {}
    elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
        text, names = arg[0], _resolve(arg[1], scope)
    else:
        raise template_error("Template error: One or more Fn::Sub intrinsic functions don't "
                             "specify expected arguments.")  # fmt: skip

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name.startswith("!"):
            return "${" + name[1:] + "}"  # ${!Literal}
        if name in names:
            return _text(names[name])
        if "." in name and name.split(".", 1)[0] not in scope.pseudo:
            lid, attribute = name.split(".", 1)
            return _text(scope.attribute(lid, attribute))
        return _text(_ref(name, scope))

    return re.sub(r"\$\{([^}]+)\}", one, str(text))


def _select(arg: Any, scope: Scope) -> Any:
    if not isinstance(arg, list) or len(arg) != 2:
        raise template_error(
            "Template error: Fn::Select requires a list argument with two "
            "elements: an integer index and a list of items to select from"
        )
    index, items = _resolve(arg[0], scope), _resolve(arg[1], scope)
    try:
        return items[int(index)]
    except (IndexError, ValueError, TypeError):
        raise template_error("Template error: Fn::Select cannot select nonexistent value at "
                             f"index {index}") from None  # fmt: skip


def _split(arg: Any, scope: Scope) -> list[str]:
    if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str) or not arg[0]:
        raise template_error("Template error: every Fn::Split object requires two parameters, "
                             "(1) a string delimiter and (2) a string to be split")  # fmt: skip
    return str(_resolve(arg[1], scope)).split(arg[0])


def _base64(arg: Any, scope: Scope) -> str:
    return base64.b64encode(_text(_resolve(arg, scope)).encode()).decode()


def _unsupported(name: str) -> Callable[[Any, Scope], Any]:
    def fail(arg: Any, scope: Scope) -> Any:
        raise validation(f"Template error: firebox does not support {name} yet")

    return fail


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


_FUNCTIONS: dict[str, Callable[[Any, Scope], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Join": _join,
    "Fn::Sub": _sub,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::Base64": _base64,
    "Fn::ImportValue": _unsupported("Fn::ImportValue"),
    "Fn::If": _unsupported("Fn::If (Conditions)"),
    "Fn::FindInMap": _unsupported("Fn::FindInMap (Mappings)"),
    "Fn::GetAZs": _unsupported("Fn::GetAZs"),
}

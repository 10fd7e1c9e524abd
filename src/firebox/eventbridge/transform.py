"""What a target receives: the event, a fixed `Input`, a part of the event (`InputPath`), or
an `InputTransformer`'s template filled from the event, with AWS's substitution rules.

In a template that is JSON, a variable inside a string is replaced by its value's text
(escaped for the string), and outside a string by its value as JSON. In any other template
every value is put in as text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from firebox.eventbridge.errors import validation

_STEP = re.compile(r"\.([A-Za-z0-9_$@-]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_VARIABLE = re.compile(r"<([A-Za-z0-9_.-]+)>")
_MISSING = object()
RESERVED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time",
            "aws.events.event", "aws.events.event.json")  # fmt: skip


def check_path(path: str, member: str) -> None:
    """A JSONPath of the forms AWS's targets take (`$.detail.items[0]`)."""
    if not path.startswith("$") or _STEP.sub("", path[1:]):
        raise validation(f"{member} {path[:200]} is not a valid JSON path.")


def resolve(document: Any, path: str) -> Any:
    """The value at a JSONPath, or None where there is none."""
    value = document
    for match in _STEP.finditer(path[1:]):
        key, index, quoted, double = match.groups()
        name = key if key is not None else quoted if quoted is not None else double
        if name is not None:
            value = value.get(name, _MISSING) if isinstance(value, dict) else _MISSING
        else:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else _MISSING
        if value is _MISSING:
            return None
    return value


def check_transformer(transformer: dict[str, Any]) -> None:
    paths = transformer.get("InputPathsMap") or {}
    if len(paths) > 100:
        raise validation("InputPathsMap has more than 100 variables.")
    for name, path in paths.items():
        if name in RESERVED or name.startswith("aws."):
            raise validation(f"InputTemplate variable {name} is reserved.")
        check_path(path, "InputPathsMap value")
    if not isinstance(transformer.get("InputTemplate"), str):
        raise validation("InputTransformer must have an InputTemplate.")


@dataclass(frozen=True)
class Context:
    """What the reserved variables name."""

    rule_arn: str
    rule_name: str
    ingestion_ms: int


def render(
    event: dict[str, Any], context: Context, input_text: str | None, input_path: str | None,
    transformer: dict[str, Any] | None,
) -> str:  # fmt: skip
    """The text a target receives for an event."""
    if input_text is not None:
        return input_text
    if input_path is not None:
        return json.dumps(resolve(event, input_path))
    if transformer is None:
        return json.dumps(event)
    values = {name: resolve(event, path)
              for name, path in (transformer.get("InputPathsMap") or {}).items()}  # fmt: skip
    values.update({
        "aws.events.rule-arn": context.rule_arn, "aws.events.rule-name": context.rule_name,
        "aws.events.event.ingestion-time": str(context.ingestion_ms),
        "aws.events.event": event, "aws.events.event.json": event,
    })  # fmt: skip
    return fill(str(transformer["InputTemplate"]), values)


def fill(template: str, values: dict[str, Any]) -> str:
    """The template with its variables replaced (see the module's rules)."""
    as_json = _is_json(template, values)
    out: list[str] = []
    in_string = False
    position = 0
    for match in _VARIABLE.finditer(template):
        before = template[position : match.start()]
        in_string = _string_state(before, in_string)
        out.append(before)
        position = match.end()
        name = match[1]
        if name not in values:  # an unknown <word> stays as it is: only variables are filled
            out.append(match[0])
            continue
        value = values[name]
        if not as_json:
            out.append(value if isinstance(value, str) else json.dumps(value))
        elif in_string:
            text = value if isinstance(value, str) else json.dumps(value)
            out.append(json.dumps(text)[1:-1])
        else:
            out.append(json.dumps(value))
    out.append(template[position:])
    return "".join(out)


def _string_state(text: str, in_string: bool) -> bool:
    """Whether a JSON text is inside a string after `text`, given the state before it."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_string:
            escaped = True
        elif char == '"':
            in_string = not in_string
    return in_string


def _is_json(template: str, values: dict[str, Any]) -> bool:
    """Whether the template is JSON once its variables are (any JSON value)."""
    probe = _VARIABLE.sub(lambda m: "null" if m[1] in values else m[0], template)
    # A variable inside a string became `null` text there: still a string, still JSON.
    try:
        json.loads(probe)
    except ValueError:
        return False
    return True

"""A stack's template: its resources, their dependencies and outputs, checked as CloudFormation
checks a template before it changes anything."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from firebox.stacks.errors import template_error, validation

LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::Partition",
          "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs")  # fmt: skip
MAX_RESOURCES = 500  # CloudFormation's limit per template


@dataclass(frozen=True)
class ResourceSpec:
    """One resource as the template declares it (its properties may hold intrinsics)."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()  # explicit DependsOn and every Ref/GetAtt, sorted
    retain: bool = False  # DeletionPolicy: Retain (kept when removed from the stack)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    value: Any
    description: str = ""
    export: Any = None


@dataclass(frozen=True)
class Template:
    resources: dict[str, ResourceSpec]
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    description: str = ""

    def order(self) -> list[str]:
        """Logical ids, each after everything it depends on (CloudFormation's create order)."""
        return topological({lid: r.depends_on for lid, r in self.resources.items()})


def check_stack_name(name: str) -> None:
    if not STACK_NAME.match(name):
        raise validation(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*"
        )


def references(value: Any) -> Iterator[str]:
    """The logical ids (and pseudo parameters) a value refers to through Ref, GetAtt, Sub."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and isinstance(arg, str):
                yield arg
                return
            if key == "Fn::GetAtt":
                if isinstance(arg, str) and "." in arg:
                    yield arg.split(".", 1)[0]
                elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
                    yield arg[0]
                else:
                    raise template_error("Template error: every Fn::GetAtt object requires two "
                                         "non-empty parameters.")  # fmt: skip
                return
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    text, names = arg, {}
                elif (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)
                      and isinstance(arg[1], dict)):  # fmt: skip
                    text, names = arg[0], arg[1]
                else:
                    raise template_error("Template error: One or more Fn::Sub intrinsic "
                                         "functions don't specify expected arguments. Specify a "
                                         "string as first argument, and an optional second "
                                         "argument to specify a mapping of values to replace in "
                                         "the string")  # fmt: skip
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name not in names:
                        yield name.split(".", 1)[0]
                yield from references(names)
                return
        for item in value.values():
            yield from references(item)


def parse_template(doc: Mapping[str, Any]) -> Template:
    """A template document checked: known sections, resources with a Type, every reference
    to something declared, no cycles."""
    if not isinstance(doc, Mapping):
        raise template_error("The template must be a JSON object")
    known = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings",
             "Conditions", "Transform", "Resources", "Outputs", "Rules"}  # fmt: skip
    unknown = sorted(set(doc) - known)
    if unknown:
        raise template_error(f"Invalid template property or properties [{', '.join(unknown)}]")
    for section in ("Parameters", "Conditions", "Transform"):
        if doc.get(section):  # nothing supplies them: a deploy passes resolved values
            raise template_error(f"firebox does not support the {section} section yet")
    raw = doc.get("Resources")
    if not isinstance(raw, Mapping) or not raw:
        raise template_error("At least one Resources member must be defined.")
    if len(raw) > MAX_RESOURCES:
        raise template_error(f"Number of resources, {len(raw)}, is greater than the maximum "
                             f"allowed, {MAX_RESOURCES}")  # fmt: skip
    resources: dict[str, ResourceSpec] = {}
    for lid, body in raw.items():
        if not LOGICAL_ID.match(lid):
            raise template_error(f"Resource name {lid} is non alphanumeric.")
        if not isinstance(body, Mapping) or not isinstance(body.get("Type"), str):
            raise template_error(f"[/Resources/{lid}] Every Resources object must contain a "
                                 "Type member.")  # fmt: skip
        props = body.get("Properties", {})
        if not isinstance(props, Mapping):
            raise template_error(f"[/Resources/{lid}/Properties] must be an object")
        if "Condition" in body:
            raise template_error(f"[/Resources/{lid}] firebox does not support Conditions yet")
        explicit = body.get("DependsOn", [])
        explicit = [explicit] if isinstance(explicit, str) else explicit
        if not isinstance(explicit, list) or not all(isinstance(d, str) for d in explicit):
            raise template_error(f"[/Resources/{lid}/DependsOn] must be a name or a list of "
                                 "names")  # fmt: skip
        deps = {r for r in references(props) if not r.startswith("AWS::")} | set(explicit)
        resources[lid] = ResourceSpec(
            lid, body["Type"], dict(props), tuple(sorted(deps)),
            body.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"),
        )  # fmt: skip
    outputs: dict[str, OutputSpec] = {}
    for name, body in (doc.get("Outputs") or {}).items():
        if not isinstance(body, Mapping) or "Value" not in body:
            raise template_error(f"Every Outputs member must contain a Value object ({name})")
        outputs[name] = OutputSpec(name, body["Value"], str(body.get("Description", "")),
                                   body.get("Export"))  # fmt: skip
    undeclared = sorted(
        {d for r in resources.values() for d in r.depends_on if d not in resources}
        | {d for o in outputs.values() for d in references(o.value)
           if d not in resources and d not in PSEUDO}
    )  # fmt: skip
    undeclared = [d for d in undeclared if d not in PSEUDO]
    if undeclared:
        raise template_error(f"Unresolved resource dependencies [{', '.join(undeclared)}] in "
                             "the Resources block of the template")  # fmt: skip
    template = Template(resources, outputs, str(doc.get("Description", "")))
    template.order()  # a cycle fails here, before anything is applied
    return template


def topological(deps: Mapping[str, tuple[str, ...] | list[str]]) -> list[str]:
    """Names ordered so that each comes after its dependencies (ties: declaration order)."""
    done: list[str] = []
    placed: set[str] = set()
    remaining = dict(deps)
    while remaining:
        ready = [n for n, d in remaining.items() if all(x in placed or x not in deps for x in d)]
        if not ready:
            raise validation(f"Circular dependency between resources: [{', '.join(remaining)}]")
        for name in ready:
            done.append(name)
            placed.add(name)
            del remaining[name]
    return done

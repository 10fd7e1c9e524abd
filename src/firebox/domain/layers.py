"""Layers as stored and as functions use them, and Lambda's rules for both."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from firebox.domain.errors import ConstraintError, InvalidParameterValueException

MAX_LAYERS = 5  # per function
LAYER_VERSION_ARN_PATTERN = (
    "(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|"
    "(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
LAYER_VERSION_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"layer:(?P<name>[a-zA-Z0-9-_]{1,140}):(?P<version>[0-9]{1,12})$"
)
LAYER_NAME_OR_ARN_RE = re.compile(
    r"^(arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:)?"
    r"(?P<name>[a-zA-Z0-9-_]+)$"
)


@dataclass(frozen=True)
class LayerUse:
    """A layer version as a function holds it: enough to run it after the version is gone."""

    arn: str
    code_sha256: str
    code_size: int
    unzipped: int = 0


@dataclass(frozen=True)
class LayerVersion:
    """One immutable version of a layer, as stored."""

    name: str
    version: int
    code_sha256: str
    code_size: int
    unzipped: int
    created: float
    description: str = ""
    license_info: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    # The version's resource-based policy: its statements by Sid, and its revision.
    statements: dict[str, dict[str, object]] = field(default_factory=dict)
    policy_revision: str = ""

    def updated(self, **changes: object) -> LayerVersion:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NewLayerVersion:
    """A layer version to publish: its code (a zip) and what describes it."""

    name: str
    code: bytes
    description: str = ""
    license_info: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()


def check_layer_arns(arns: Sequence[str]) -> tuple[str, ...]:
    """A function's Layers member: at most five version ARNs, each layer once."""
    for arn in arns:
        if not isinstance(arn, str) or LAYER_VERSION_ARN_RE.match(arn) is None:
            raise ConstraintError(
                arn, "layers", f"Member must satisfy regular expression pattern: "
                f"{LAYER_VERSION_ARN_PATTERN}",
            )  # fmt: skip
    if len(arns) > MAX_LAYERS:
        raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
    seen: dict[str, str] = {}
    for arn in arns:
        layer = arn.rsplit(":", 1)[0]
        if layer in seen:
            raise InvalidParameterValueException(
                "Two different versions of the same layer are not allowed to be referenced in "
                f"the same function. {seen[layer]} and {arn} are versions of the same layer."
            )
        seen[layer] = arn
    return tuple(arns)

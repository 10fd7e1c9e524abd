"""What EventBridge keeps: buses, and rules with their targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Bus:
    name: str
    arn: str
    created: float
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """Where a rule sends what it matched, and in what form."""

    id: str
    arn: str
    input: str | None = None  # a fixed JSON text instead of the event
    input_path: str | None = None  # a part of the event (JSONPath)
    input_transformer: dict[str, Any] | None = None  # InputPathsMap + InputTemplate
    role_arn: str | None = None
    dead_letter_arn: str | None = None  # an SQS queue
    retry_policy: dict[str, int] | None = None
    message_group_id: str | None = None  # SqsParameters, for FIFO queues


@dataclass(frozen=True)
class Rule:
    name: str
    bus: str
    arn: str
    created: float  # a rate schedule counts from here
    event_pattern: str | None = None
    schedule: str | None = None
    state: str = "ENABLED"
    description: str = ""
    role_arn: str | None = None
    targets: tuple[Target, ...] = ()
    next_at: float | None = None  # a scheduled rule's next tick (epoch seconds)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:  # ENABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
        return self.state.startswith("ENABLED")

"""What the Scheduler keeps: schedule groups and schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Group:
    name: str
    arn: str
    created: float
    modified: float
    state: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    name: str
    group: str
    arn: str
    expression: str
    target: dict[str, Any]  # the Target as given (Arn, RoleArn, Input, SqsParameters…)
    created: float
    modified: float
    flexible_window_s: int = 0  # FlexibleTimeWindow: 0 when its Mode is OFF
    timezone: str | None = None
    start: float | None = None
    end: float | None = None
    description: str | None = None
    state: str = "ENABLED"
    kms_key_arn: str | None = None
    action_after_completion: str = "NONE"
    next_at: float | None = None  # the next tick (epoch seconds); None: no more
    anchor: float | None = None  # a rate without StartDate counts from here (its creation)

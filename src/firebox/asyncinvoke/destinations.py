"""Where asynchronous invocations' records and dead letters go: one class per kind of target.

A delivery is a follow-up: work stored in the same transaction that settles the event, so a
record is exactly as durable as the event it describes. Functions are the only targets so
far; a queue or topic target is another class here, added to TARGETS, once firebox has
those services.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from firebox.asyncinvoke.queue import NewEvent
from firebox.domain.errors import InvalidParameterValueException
from firebox.invoke.invocation import new_request_id

FUNCTION_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9$_-]+))?$"
)


class Destination(Protocol):
    """A target of invocation records or dead letters."""

    def deliver(self, payload: bytes, kind: str, now: float) -> list[NewEvent]:
        """The follow-ups that deliver payload to this target."""


@dataclass(frozen=True)
class FunctionDestination:
    """Another function, invoked asynchronously (with its own retries and destinations)."""

    name: str
    qualifier: str | None

    def deliver(self, payload: bytes, kind: str, now: float) -> list[NewEvent]:
        return [NewEvent(self.name, self.qualifier, payload, new_request_id(), now, kind)]


def _function(match: re.Match[str]) -> Destination:
    return FunctionDestination(match[1], match[2])


TARGETS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Destination]]] = [
    (FUNCTION_ARN_RE, _function),
]


def parse(arn: object, member: str = "destination") -> Destination:
    """The destination an ARN names; InvalidParameterValueException if firebox has none."""
    if not isinstance(arn, str) or len(arn) > 350:
        raise InvalidParameterValueException(f"The {member} must be an ARN.")
    for pattern, build in TARGETS:
        match = pattern.match(arn)
        if match is not None:
            return build(match)
    raise InvalidParameterValueException(
        f"Unsupported {member} {arn}: firebox delivers to Lambda functions only "
        "(arn:aws:lambda:<region>:<account>:function:<name>); queues and topics come with "
        "those services."
    )


def validated(arn: object, member: str) -> str:
    """Checks a target ARN and returns it."""
    parse(arn, member)
    assert isinstance(arn, str)
    return arn

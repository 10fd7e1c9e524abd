"""Where asynchronous invocations' records and dead letters may go: target ARNs, parsed.

Functions are the only targets so far; a queue or topic target is another class here, added
to TARGETS, once firebox has those services (asyncinvoke/destinations.py delivers to each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from firebox.domain.errors import InvalidParameterValueException

FUNCTION_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9$_-]+))?$"
)


@dataclass(frozen=True)
class FunctionDestination:
    """Another function, invoked asynchronously (with its own retries and destinations)."""

    name: str
    qualifier: str | None


Destination = FunctionDestination  # a union, once there are other kinds of target


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

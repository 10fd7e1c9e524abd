"""Where asynchronous invocations' records and dead letters may go: target ARNs, parsed.

A function (invoked asynchronously), an SQS queue, an SNS topic or, for records only, an
EventBridge bus (asyncinvoke/destinations.py delivers to each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from firebox.domain.errors import InvalidParameterValueException

FUNCTION_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9$_-]+))?$"
)
QUEUE_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
TOPIC_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
BUS_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[/.\-_A-Za-z0-9]+$")


@dataclass(frozen=True)
class FunctionDestination:
    """Another function, invoked asynchronously (with its own retries and destinations)."""

    name: str
    qualifier: str | None


@dataclass(frozen=True)
class ServiceDestination:
    """A queue, topic or bus: the record (or dead letter) is sent to it."""

    arn: str
    service: str  # sqs | sns | events


Destination = FunctionDestination | ServiceDestination


def _function(match: re.Match[str]) -> Destination:
    return FunctionDestination(match[1], match[2])


def _service(match: re.Match[str]) -> Destination:
    return ServiceDestination(match[0], match[0].split(":")[2])


TARGETS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Destination]]] = [
    (FUNCTION_ARN_RE, _function),
    (QUEUE_ARN_RE, _service),
    (TOPIC_ARN_RE, _service),
    (BUS_ARN_RE, _service),
]


def parse(arn: object, member: str = "destination") -> Destination:
    """The destination an ARN names; InvalidParameterValueException if firebox has none."""
    if not isinstance(arn, str) or len(arn) > 350:
        raise InvalidParameterValueException(f"The {member} must be an ARN.")
    for pattern, build in TARGETS:
        match = pattern.match(arn)
        if match is not None:
            target = build(match)
            bus = isinstance(target, ServiceDestination) and target.service == "events"
            if bus and member == "dead-letter target":  # AWS: a dead-letter queue is SQS or SNS
                break
            if arn.endswith(".fifo"):  # records carry no message group: AWS refuses FIFO too
                raise InvalidParameterValueException(
                    f"Unsupported {member} {arn}: FIFO queues and topics are not supported."
                )
            return target
    raise InvalidParameterValueException(
        f"Unsupported {member} {arn}: firebox delivers to Lambda functions, SQS queues and SNS "
        "topics, and destinations also to EventBridge buses (arn:aws:<service>:<region>:"
        "<account>:...)."
    )


def validated(arn: object, member: str) -> str:
    """Checks a target ARN and returns it."""
    parse(arn, member)
    assert isinstance(arn, str)
    return arn

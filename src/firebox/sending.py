"""Sending a payload to a target by its ARN: a function (invoked asynchronously), an SQS
queue, an SNS topic or an EventBridge bus. One implementation for every service that hands
work on: EventBridge rules, the Scheduler, and asynchronous invokes' destinations.

A send is stored first (in an outbox, with the change that caused it) and handed over by a
forwarder; `Senders.send` raises TargetGone when the target does not exist or refuses for
good, and the send then goes to its dead-letter queue, if it names one, or is dropped with
a log line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from firebox.domain.arns import parse_function_ref
from firebox.domain.errors import LambdaError
from firebox.queues.errors import SqsError
from firebox.queues.service import Outgoing
from firebox.topics.records import Message

if TYPE_CHECKING:
    from firebox.domain.arns import FunctionRef
    from firebox.queues.service import QueueService
    from firebox.topics.service import TopicService

log = logging.getLogger("firebox")


class TargetGone(Exception):
    """The target does not exist, or refuses the send for good."""


@dataclass(frozen=True)
class Send:
    """One payload for one target, as an outbox keeps it."""

    target: str  # the ARN
    body: str  # for a bus: a PutEvents entry, as JSON
    principal: str  # who sends, as a resource policy names it (events.amazonaws.com…)
    source_arn: str  # what sends: the rule, schedule or function
    id: int = 0
    group_id: str | None = None  # FIFO queues
    dedup_id: str | None = None
    dead_letter: str | None = None  # an SQS queue's ARN
    # SQS message attributes the dead-letter message carries (why it is there)
    attributes: dict[str, str] = field(default_factory=dict)


class Bus(Protocol):
    """What a bus target needs of EventBridge: accepting one entry."""

    async def put_entry(self, bus_arn: str, entry: dict[str, Any]) -> None: ...


# (principal, function ARN, source ARN) → whether the function's resource policy allows it
Permits = Callable[[str, str, str], bool]


class Invoker(Protocol):
    """What a function target needs: an Event invoke accepted (asyncinvoke's AsyncInvoker)."""

    async def accept(
        self, ref: FunctionRef, payload: bytes, trace_id: str | None = None
    ) -> str: ...


class Senders:
    """Hands sends to their targets. Under `--iam enforce` a function's resource policy
    must allow the sending service (as on AWS); `report` warns once and sends."""

    def __init__(
        self, invoker: Invoker, queues: QueueService, topics: TopicService,
        permits: Permits, iam_mode: str = "off",
    ) -> None:  # fmt: skip
        self.invoker = invoker
        self.queues = queues
        self.topics = topics
        self.bus: Bus | None = None  # EventBridge, once built
        self._permits = permits
        self._iam_mode = iam_mode
        self._warned: set[tuple[str, str]] = set()

    async def send(self, send: Send) -> None:
        """Hands the payload over (durably stored by its target when this returns)."""
        service = send.target.split(":", 3)[2] if send.target.count(":") >= 3 else ""
        if service == "lambda":
            await self._invoke(send)
        elif service == "sqs":
            await self._enqueue(send.target, send.body, send.group_id, send.dedup_id, {})
        elif service == "sns":
            try:
                await self.topics.publish(send.target, Message(send.body, group_id=send.group_id,
                                                               dedup_id=send.dedup_id))  # fmt: skip
            except LambdaError as exc:
                raise TargetGone(exc.message) from None
        elif service == "events" and self.bus is not None:
            try:
                await self.bus.put_entry(send.target, json.loads(send.body))
            except LambdaError as exc:
                raise TargetGone(exc.message) from None
        else:
            raise TargetGone(f"firebox cannot send to {send.target}")

    async def deliver(self, send: Send) -> bool:
        """A forwarder's step: True once the send is handed over, dead-lettered or dropped;
        False when firebox failed and it should be tried again."""
        try:
            try:
                await self.send(send)
            except TargetGone as exc:
                await self._dead_letter(send, str(exc))
        except Exception:
            log.exception("sending to %s failed; retrying", send.target)
            return False
        return True

    async def _invoke(self, send: Send) -> None:
        self._check_permission(send)
        try:
            await self.invoker.accept(parse_function_ref(send.target), send.body.encode())
        except LambdaError as exc:
            raise TargetGone(exc.message) from None

    async def _enqueue(
        self, arn: str, body: str, group_id: str | None, dedup_id: str | None,
        attributes: dict[str, str],
    ) -> None:  # fmt: skip
        queue = self.queues.by_arn(arn)
        if queue is None:
            raise TargetGone(f"the queue {arn} does not exist")
        typed = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        if not queue.fifo:  # ids only FIFO queues take (a standard queue refuses them)
            group_id = dedup_id = None
        outgoing = Outgoing(body, attributes=typed, group_id=group_id, dedup_id=dedup_id)
        (sent,) = await self.queues.send(queue, [outgoing], "events.amazonaws.com")
        if isinstance(sent, SqsError):
            raise TargetGone(sent.message)

    def _check_permission(self, send: Send) -> None:
        if self._iam_mode == "off" or not send.principal:
            return
        if self._permits(send.principal, send.target, send.source_arn):
            return
        why = (f"the resource policy of {send.target} does not allow {send.principal} to "
               f"invoke it for {send.source_arn} (aws lambda add-permission --principal "
               f"{send.principal} --source-arn {send.source_arn})")  # fmt: skip
        if self._iam_mode == "enforce":
            raise TargetGone(why)
        if (send.target, send.source_arn) not in self._warned:
            self._warned.add((send.target, send.source_arn))
            log.warning("a send allowed by --iam report, denied under enforce: %s", why)

    async def _dead_letter(self, send: Send, why: str) -> None:
        if not send.dead_letter:
            log.warning("a send from %s to %s dropped: %s", send.source_arn, send.target, why)
            return
        attributes = {**send.attributes, "ERROR_MESSAGE": why[:1000], "TARGET_ARN": send.target}
        try:
            await self._enqueue(send.dead_letter, send.body, None, None, attributes)
        except TargetGone as exc:
            log.warning("a send from %s to %s dropped: %s; its dead-letter queue %s refused "
                        "it too: %s", send.source_arn, send.target, why, send.dead_letter,
                        exc)  # fmt: skip
            return
        log.warning("a send from %s to %s moved to the dead-letter queue %s: %s",
                    send.source_arn, send.target, send.dead_letter, why)  # fmt: skip

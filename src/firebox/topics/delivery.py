"""Hands stored SNS deliveries to their subscribers through the outbox forwarder: a
function's durable Event queue (invoked asynchronously, as SNS invokes Lambda), an SQS
queue, or an http(s) endpoint (posted on its own with its retries: topics/http.py). A
subscriber gone for good (a deleted function or queue, an endpoint that failed every retry)
sends the message to the subscription's dead-letter queue if it has one (RedrivePolicy),
else drops it with a log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from firebox.domain.arns import parse_function_ref
from firebox.domain.errors import LambdaError
from firebox.outbox import Forwarder
from firebox.queues.errors import SqsError
from firebox.queues.service import Outgoing
from firebox.topics.http import HttpPoster
from firebox.topics.records import Delivery
from firebox.topics.service import TopicService

if TYPE_CHECKING:
    from firebox.asyncinvoke.invoker import AsyncInvoker
    from firebox.queues.service import QueueService

log = logging.getLogger("firebox.sns")
SENDER = "sns.amazonaws.com"


class Gone(Exception):
    """The subscriber does not exist any more."""


# (function ARN, topic ARN) → whether the function's resource policy lets SNS invoke it
Permits = Callable[[str, str], bool]


class DeliveryForwarder:
    """Moves deliveries from the topic service's outbox to their subscribers. A function's
    resource policy must allow sns.amazonaws.com (as on AWS, checked at delivery): under
    `--iam enforce` a delivery it does not allow is dropped, under `report` it goes through
    with a warning, under `off` nothing is checked."""

    def __init__(
        self, topics: TopicService, invoker: AsyncInvoker, queues: QueueService,
        permits: Permits = lambda function, topic: True, iam_mode: str = "off",
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.topics = topics
        self.invoker = invoker
        self.queues = queues
        self._permits = permits
        self._iam_mode = iam_mode
        self._warned: set[tuple[str, str]] = set()
        self._outbox = Forwarder(lambda: topics.pending(skip=self._http.in_hand()),
                                 topics.delivered, self._deliver)  # fmt: skip
        self._http = HttpPoster(topics, self._dead_letter, self._outbox.wake, http, sleep)
        topics.on_deliveries = self._outbox.wake

    def start(self) -> None:
        self._outbox.start()

    async def _deliver(self, delivery: Delivery) -> bool | None:
        if delivery.protocol in ("http", "https"):
            # Posted on its own with its retries (topics/http.py); stays stored until done.
            return None if self._http.take(delivery) else False
        delivered = "NumberOfNotificationsDelivered"
        try:
            try:
                await self._send(delivery)
            except Gone as exc:
                delivered = "NumberOfNotificationsFailed"
                await self._dead_letter(delivery, str(exc))
        except Exception:
            log.exception("SNS delivery to %s failed; retrying", delivery.endpoint)
            return False
        if self.topics.observe is not None:
            topic = delivery.subscription_arn.rsplit(":", 2)[-2]
            self.topics.observe(delivered, {"TopicName": topic}, 1, "Count")
        return True

    async def _send(self, delivery: Delivery) -> None:
        if delivery.protocol == "lambda":
            self._check_permission(delivery)
            try:
                await self.invoker.accept(parse_function_ref(delivery.endpoint),
                                          delivery.body.encode())  # fmt: skip
            except LambdaError as exc:
                raise Gone(exc.message) from None
            return
        queue = self.queues.by_arn(delivery.endpoint)
        if queue is None:
            raise Gone("the queue does not exist")
        attributes = _sqs_attributes(delivery.attributes)
        outgoing = Outgoing(delivery.body, attributes=attributes, group_id=delivery.group_id,
                            dedup_id=delivery.dedup_id)  # fmt: skip
        (sent,) = await self.queues.send(queue, [outgoing], SENDER)
        if isinstance(sent, SqsError):
            raise Gone(sent.message)

    def _check_permission(self, delivery: Delivery) -> None:
        if self._iam_mode == "off":
            return
        topic = delivery.subscription_arn.rsplit(":", 1)[0]
        if self._permits(delivery.endpoint, topic):
            return
        why = (f"the resource policy of {delivery.endpoint} does not allow sns.amazonaws.com "
               f"to invoke it for {topic} (aws lambda add-permission --principal "
               "sns.amazonaws.com --source-arn <topic>)")  # fmt: skip
        if self._iam_mode == "enforce":
            raise Gone(why)
        if (delivery.endpoint, topic) not in self._warned:  # report: said once, delivered
            self._warned.add((delivery.endpoint, topic))
            log.warning("SNS delivery allowed by --iam report, denied under enforce: %s", why)

    async def _dead_letter(self, delivery: Delivery, why: str) -> None:
        sub = self.topics.find_subscription(delivery.subscription_arn)
        policy = (sub.attributes.get("RedrivePolicy") if sub else None) or ""
        target = json.loads(policy).get("deadLetterTargetArn") if policy else None
        queue = self.queues.by_arn(target) if target else None
        if queue is None:
            log.warning("SNS delivery to %s dropped: %s", delivery.endpoint, why)
            return
        attributes = _sqs_attributes(delivery.attributes)
        outgoing = Outgoing(delivery.body, attributes=attributes, group_id=delivery.group_id,
                            dedup_id=delivery.dedup_id)  # fmt: skip
        (sent,) = await self.queues.send(queue, [outgoing], SENDER)
        if isinstance(sent, SqsError):
            log.warning("SNS delivery to %s dropped: %s; its dead-letter queue %s refused it "
                        "too: %s", delivery.endpoint, why, target, sent.message)  # fmt: skip
            return
        log.warning("SNS delivery to %s moved to its dead-letter queue %s: %s",
                    delivery.endpoint, target, why)  # fmt: skip

    async def close(self) -> None:
        await self._outbox.close()
        await self._http.close()


def _sqs_attributes(text: str) -> dict[str, Any]:
    """Raw delivery: the message's attributes become the SQS message's."""
    if not text:
        return {}
    out: dict[str, Any] = {}
    for name, value in json.loads(text).items():
        kind = value.get("DataType", "String")
        if kind.startswith("Binary"):
            out[name] = {"DataType": kind, "BinaryValue": value.get("BinaryValue", "")}
        else:
            out[name] = {"DataType": kind, "StringValue": value.get("StringValue", "")}
    return out

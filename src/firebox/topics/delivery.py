"""Hands stored SNS deliveries to their subscribers through the outbox forwarder: a
function's durable Event queue (invoked asynchronously, as SNS invokes Lambda) or an SQS
queue. A subscriber gone for good (a deleted function or queue) sends the message to the
subscription's dead-letter queue if it has one (RedrivePolicy), else drops it with a log."""

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
from firebox.topics.records import Delivery
from firebox.topics.service import TopicService

if TYPE_CHECKING:
    from firebox.asyncinvoke.invoker import AsyncInvoker
    from firebox.queues.service import QueueService

log = logging.getLogger("firebox.sns")
SENDER = "sns.amazonaws.com"
HTTP_TIMEOUT_S = 15.0  # SNS waits this long for an http(s) endpoint's answer


def retry_delays(policy: dict[str, Any]) -> list[float]:
    """The waits before each retry of an http(s) delivery, by SNS's delivery policy (its
    default: 3 retries, 20 seconds apart): first the no-delay retries, then the rest at the
    minimum delay growing linearly to the maximum."""
    retries = int(policy.get("numRetries", 3))
    no_delay = int(policy.get("numNoDelayRetries", 0))
    low = float(policy.get("minDelayTarget", 20))
    high = float(policy.get("maxDelayTarget", low))
    rest = max(0, retries - no_delay)
    steps = [low + (high - low) * i / max(1, rest - 1) for i in range(rest)]
    return [0.0] * min(no_delay, retries) + steps


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
        self._posting: dict[int, asyncio.Task[None]] = {}  # http(s) deliveries being retried
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        self._sleep = sleep
        self._outbox = Forwarder(lambda: topics.pending(skip=frozenset(self._posting)),
                                 topics.delivered, self._deliver)  # fmt: skip
        topics.on_deliveries = self._outbox.wake

    def start(self) -> None:
        self._outbox.start()

    async def _deliver(self, delivery: Delivery) -> bool | None:
        if delivery.protocol in ("http", "https"):
            # Posted on its own, with its retries: a slow or failing endpoint holds up no
            # other delivery. It stays stored until done (a restart posts it again).
            task = asyncio.get_running_loop().create_task(self._post_until_done(delivery))
            self._posting[delivery.id] = task
            return None
        try:
            await self._send(delivery)
        except Gone as exc:
            await self._dead_letter(delivery, str(exc))
        except Exception:
            log.exception("SNS delivery to %s failed; retrying", delivery.endpoint)
            return False
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

    async def _post_until_done(self, delivery: Delivery) -> None:
        try:
            delays = retry_delays(self._policy(delivery))
            for attempt, delay in enumerate([0.0, *delays]):
                if delay:
                    await self._sleep(delay)
                problem = await self._post(delivery)
                if problem is None:
                    break
                log.info("SNS delivery to %s failed (attempt %d): %s", delivery.endpoint,
                         attempt + 1, problem)  # fmt: skip
            else:
                if json.loads(delivery.body).get("Type") == "SubscriptionConfirmation":
                    log.warning("SNS could not confirm %s with %s: %s", delivery.subscription_arn,
                                delivery.endpoint, problem)  # fmt: skip
                else:
                    await self._dead_letter(delivery, f"{problem} (retries exhausted)")
            await self.topics.delivered([delivery.id])
        except Exception:
            log.exception("SNS delivery to %s failed in firebox; posted again at restart",
                          delivery.endpoint)  # fmt: skip
        finally:
            self._posting.pop(delivery.id, None)
            self._outbox.wake()

    async def _post(self, delivery: Delivery) -> str | None:
        """One POST; what went wrong, or None on a 2xx answer."""
        kind = json.loads(delivery.body).get("Type", "Notification") if delivery.body.startswith(
            "{") else "Notification"  # fmt: skip
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": kind,
            "x-amz-sns-topic-arn": delivery.subscription_arn.rsplit(":", 1)[0],
        }
        if kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = delivery.subscription_arn
        if delivery.body.startswith("{"):
            message_id = json.loads(delivery.body).get("MessageId")
            if message_id:
                headers["x-amz-sns-message-id"] = message_id
        try:
            answer = await self._http.post(delivery.endpoint, content=delivery.body.encode(),
                                           headers=headers)  # fmt: skip
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"

    def _policy(self, delivery: Delivery) -> dict[str, Any]:
        """The subscription's (or its topic's) DeliveryPolicy for http(s), if any."""
        sub = self.topics.find_subscription(delivery.subscription_arn)
        texts = [sub.attributes.get("DeliveryPolicy", "") if sub else ""]
        try:
            topic = self.topics.topic(delivery.subscription_arn.rsplit(":", 1)[0])
            texts.append(topic.attributes.get("DeliveryPolicy", ""))
        except LambdaError:
            pass
        for text in texts:
            try:
                policy = json.loads(text) if text else {}
            except ValueError:
                continue
            found = policy.get("healthyRetryPolicy") or (policy.get("http") or {}).get(
                "defaultHealthyRetryPolicy")  # fmt: skip
            if isinstance(found, dict):
                return found
        return {}

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
        for task in list(self._posting.values()):
            task.cancel()
        await asyncio.gather(*self._posting.values(), return_exceptions=True)
        await self._http.aclose()


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

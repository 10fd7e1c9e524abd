"""Posting SNS deliveries to http(s) subscribers: each delivery on its own task (a slow or
failing endpoint holds up no other subscriber), with SNS's delivery-policy retries, a few
posts at a time per subscription and a bounded number in hand overall (beyond it the outbox
waits: back-pressure, not memory without end). A delivery stays stored until it is done, so
a restart posts it again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from firebox.topics import messages
from firebox.topics.records import Delivery
from firebox.topics.service import TopicService

log = logging.getLogger("firebox.sns")
TIMEOUT_S = 15.0  # SNS waits this long for an endpoint's answer
MAX_IN_HAND = 1000  # deliveries being posted or waiting to retry, across all subscribers
PER_SUBSCRIPTION = 10  # posts at once to one subscription's endpoint
FIREBOX_RETRY_S = 1.0  # after firebox's own failure (its store), before letting go of one


def retry_delays(policy: dict[str, Any]) -> list[float]:
    """The waits before each retry, by SNS's delivery policy (its default for http(s): 3
    retries, 20 seconds apart): the no-delay retries first, then the rest from the minimum
    delay growing linearly to the maximum."""
    retries = int(policy.get("numRetries", 3))
    no_delay = min(int(policy.get("numNoDelayRetries", 0)), retries)
    low = float(policy.get("minDelayTarget", 20))
    high = float(policy.get("maxDelayTarget", low))
    rest = retries - no_delay
    return [0.0] * no_delay + [low + (high - low) * i / max(1, rest - 1) for i in range(rest)]


# (delivery, why) → the delivery moved to its subscription's dead-letter queue, or dropped
DeadLetter = Callable[[Delivery, str], Awaitable[None]]


class HttpPoster:
    """Takes http(s) deliveries from the outbox and posts each until it is done."""

    def __init__(
        self, topics: TopicService, dead_letter: DeadLetter, done: Callable[[], None],
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.topics = topics
        self._dead_letter = dead_letter
        self._done = done  # the outbox's wake: a slot is free again
        # trust_env off: a proxy from the environment must not see subscribers' traffic.
        self._client = client or httpx.AsyncClient(
            timeout=TIMEOUT_S, trust_env=False,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )  # fmt: skip
        self._sleep = sleep
        self._posting: dict[int, asyncio.Task[None]] = {}
        self._per_subscription: dict[str, asyncio.Semaphore] = {}

    def in_hand(self) -> frozenset[int]:
        """The ids being posted: the outbox leaves them alone."""
        return frozenset(self._posting)

    def take(self, delivery: Delivery) -> bool:
        """Starts posting a delivery; False when too many are in hand already."""
        if len(self._posting) >= MAX_IN_HAND:
            return False
        task = asyncio.get_running_loop().create_task(self._until_done(delivery))
        self._posting[delivery.id] = task
        return True

    async def _until_done(self, delivery: Delivery) -> None:
        try:
            problem = await self._attempts(delivery)
            if problem is not None:
                if delivery.kind == "SubscriptionConfirmation":
                    log.warning("SNS could not confirm %s with %s: %s", delivery.subscription_arn,
                                delivery.endpoint, problem)  # fmt: skip
                else:
                    await self._dead_letter(delivery, f"{problem} (retries exhausted)")
            await self.topics.delivered([delivery.id])
        except asyncio.CancelledError:
            raise
        except Exception:  # firebox's own failure: the delivery stays stored, tried again
            log.exception("SNS delivery to %s failed in firebox", delivery.endpoint)
            await self._sleep(FIREBOX_RETRY_S)
        finally:
            self._posting.pop(delivery.id, None)
            self._done()

    async def _attempts(self, delivery: Delivery) -> str | None:
        """Posts until an answer is 2xx (None) or the retries are spent (the last problem)."""
        problem: str | None = "not attempted"
        for attempt, delay in enumerate([0.0, *retry_delays(self._policy(delivery))]):
            if delay:
                await self._sleep(delay)
            if self.topics.find_subscription(delivery.subscription_arn) is None:
                log.info("SNS delivery to %s ended: its subscription was deleted",
                         delivery.endpoint)  # fmt: skip
                return None
            gate = self._per_subscription.setdefault(
                delivery.subscription_arn, asyncio.Semaphore(PER_SUBSCRIPTION)
            )
            async with gate:
                problem = await self._post(delivery)
            if problem is None:
                return None
            log.info("SNS delivery to %s failed (attempt %d): %s", delivery.endpoint,
                     attempt + 1, problem)  # fmt: skip
        return problem

    async def _post(self, delivery: Delivery) -> str | None:
        """One POST; what went wrong, or None on a 2xx answer."""
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "User-Agent": "Amazon Simple Notification Service Agent",
            "x-amz-sns-message-type": delivery.kind,
            "x-amz-sns-topic-arn": delivery.subscription_arn.rsplit(":", 1)[0],
        }
        if delivery.message_id:
            headers["x-amz-sns-message-id"] = delivery.message_id
        if delivery.kind == "Notification":
            headers["x-amz-sns-subscription-arn"] = delivery.subscription_arn
        if delivery.raw:
            headers["x-amz-sns-rawdelivery"] = "true"
        try:
            answer = await self._client.post(delivery.endpoint, content=delivery.body.encode(),
                                             headers=headers)  # fmt: skip
        except Exception as exc:  # any failure to reach it is a failed attempt
            return f"{type(exc).__name__}: {exc}"[:500]
        return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"

    def _policy(self, delivery: Delivery) -> dict[str, Any]:
        """The subscription's DeliveryPolicy for http(s), else its topic's (both checked
        when set), else SNS's default."""
        sub = self.topics.find_subscription(delivery.subscription_arn)
        texts = [sub.attributes.get("DeliveryPolicy", "") if sub else ""]
        topic = self.topics.find_topic(delivery.subscription_arn.rsplit(":", 1)[0])
        texts.append(topic.attributes.get("DeliveryPolicy", "") if topic else "")
        for text in texts:
            try:
                found = messages.http_retry_policy(json.loads(text)) if text else {}
            except (ValueError, AttributeError):
                continue
            if found:
                return found
        return {}

    async def close(self) -> None:
        for task in list(self._posting.values()):
            task.cancel()
        await asyncio.gather(*self._posting.values(), return_exceptions=True)
        await self._client.aclose()

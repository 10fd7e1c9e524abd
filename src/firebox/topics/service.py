"""The topic service: topics, subscriptions, and Publish fanning a message out to every
matching subscription. A Publish stores one delivery per subscription it matches, in the
transaction that accepts it (durable before it is answered); the outbox forwarder hands them
on (delivery.py)."""

from __future__ import annotations

import asyncio
import builtins
import datetime
import functools
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx

from firebox.storage.group_commit import BatchCommit
from firebox.topics import messages
from firebox.topics.errors import SnsError, invalid, not_found
from firebox.topics.records import Delivery, Message, Subscription, Topic
from firebox.topics.store import (
    AddDeliveries,
    DropDeliveries,
    DropSubscription,
    DropTopic,
    PutSubscription,
    PutTopic,
    SqliteTopicStore,
    Write,
)

_Method = TypeVar("_Method", bound=Callable[..., Awaitable[Any]])
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TOPIC_ATTRIBUTES = {
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "TracingConfig",
    "SignatureVersion",
    "ContentBasedDeduplication",
    "FifoTopic",
    "ArchivePolicy",
    "DataProtectionPolicy",
    "FifoThroughputScope",
}
SUBSCRIPTION_ATTRIBUTES = {
    "RawMessageDelivery",
    "FilterPolicy",
    "FilterPolicyScope",
    "RedrivePolicy",
    "DeliveryPolicy",
    "SubscriptionRoleArn",
}
PROTOCOLS = ("lambda", "sqs", "http", "https")
PAGE = 100


@dataclass(frozen=True)
class Published:
    message_id: str
    sequence_number: str | None = None


def _serialized(method: _Method) -> _Method:
    """Runs a change to topics or subscriptions under the service's lock."""

    @functools.wraps(method)
    async def serialized(self: TopicService, *args: Any, **kwargs: Any) -> Any:
        async with self._changing:
            return await method(self, *args, **kwargs)

    return serialized  # type: ignore[return-value]


class TopicService:
    """SNS topics of one account and region, kept in memory and written through."""

    def __init__(
        self, store: SqliteTopicStore, region: str, account: str,
        clock: Callable[[], float] = time.time, endpoint: str = "http://127.0.0.1:8070",
    ) -> None:  # fmt: skip
        self.store = store
        self.endpoint = endpoint  # where a confirmation's SubscribeURL points: firebox
        self.region = region
        self.account = account
        self.clock = clock
        self._topics: dict[str, Topic] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._commit: BatchCommit[list[Write], None] = BatchCommit(store.apply)
        self._sequence = 10**19
        # Changes to topics and subscriptions, one at a time: each reads, checks, writes and
        # updates memory without another change landing in between.
        self._changing = asyncio.Lock()
        self.on_deliveries: Callable[[], None] = lambda: None
        # Told of publishes and deliveries as AWS/SNS metrics: (name, dimensions, value, unit)
        self.observe: Callable[[str, dict[str, str], float, str], None] | None = None

    def load(self) -> None:
        topics, subscriptions = self.store.load()
        self._topics = {t.arn: t for t in topics}
        self._subscriptions = {s.arn: s for s in subscriptions}

    async def _write(self, *writes: Write) -> None:
        await self._commit.submit(list(writes))

    # ----- topics -------------------------------------------------------------------------
    def arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{name}"

    def topic(self, arn: str) -> Topic:
        found = self._topics.get(arn)
        if found is None:
            raise not_found("Topic does not exist")
        return found

    @_serialized
    async def create_topic(
        self, name: str, attributes: dict[str, str], tags: dict[str, str]
    ) -> Topic:
        """A new topic, or the existing one of that name if its attributes agree."""
        fifo = name.endswith(".fifo")
        base = name[: -len(".fifo")] if fifo else name
        if not _NAME.match(base) or len(name) > 256:
            raise invalid("Topic Name")
        if attributes.get("FifoTopic", "false").lower() == "true" and not fifo:
            raise invalid(
                "Fifo Topic names must end with .fifo and must be made up of only "
                "uppercase and lowercase ASCII letters, numbers, underscores, and "
                "hyphens, and must be between 1 and 256 characters long."
            )
        if fifo and attributes.get("FifoTopic", "false").lower() != "true":
            raise invalid("Topic Name")  # a .fifo name without FifoTopic=true
        for key in attributes:
            if key not in TOPIC_ATTRIBUTES:
                raise invalid("Attributes Reason: Unknown attribute " + key[:100])
        arn = self.arn(name)
        existing = self._topics.get(arn)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in attributes.items()):
                raise invalid("Attributes Reason: Topic already exists with different "
                              "attributes")  # fmt: skip
            return existing
        topic = Topic(name, arn, dict(attributes), dict(tags))
        await self._write(PutTopic(topic))
        self._topics[arn] = topic
        return topic

    @_serialized
    async def delete_topic(self, arn: str) -> None:
        """Deletes a topic and its subscriptions (a topic that does not exist: nothing)."""
        if arn not in self._topics:
            return
        await self._write(DropTopic(arn))
        self._topics.pop(arn, None)
        for sub in [s for s in self._subscriptions.values() if s.topic_arn == arn]:
            del self._subscriptions[sub.arn]

    def topics(self, token: str | None) -> tuple[builtins.list[Topic], str | None]:
        arns = sorted(self._topics)
        start = int(token) if token and token.isdigit() else 0
        page = [self._topics[a] for a in arns[start : start + PAGE]]
        return page, (str(start + PAGE) if start + PAGE < len(arns) else None)

    def topic_attributes(self, arn: str) -> dict[str, str]:
        topic = self.topic(arn)
        subscriptions = [s for s in self._subscriptions.values() if s.topic_arn == arn]
        out = {
            "TopicArn": arn, "Owner": self.account, "DisplayName": "",
            "SubscriptionsConfirmed": str(sum(1 for s in subscriptions if not s.pending)),
            "SubscriptionsPending": str(sum(1 for s in subscriptions if s.pending)),
            "SubscriptionsDeleted": "0", "Policy": json.dumps(self.default_policy(arn)),
            "EffectiveDeliveryPolicy": json.dumps(messages.DEFAULT_DELIVERY_POLICY),
        }  # fmt: skip
        out.update(topic.attributes)
        return out

    def default_policy(self, arn: str) -> dict[str, Any]:
        """The policy a topic has until one is set: its owner may do everything."""
        return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:Receive", "SNS:GetTopicAttributes",
                       "SNS:SetTopicAttributes", "SNS:DeleteTopic", "SNS:ListSubscriptionsByTopic",
                       "SNS:AddPermission", "SNS:RemovePermission"],
            "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": self.account}},
        }]}  # fmt: skip

    @_serialized
    async def set_topic_attribute(self, arn: str, name: str, value: str) -> None:
        topic = self.topic(arn)
        if name not in TOPIC_ATTRIBUTES or name == "FifoTopic":
            raise invalid("AttributeName")
        if name == "DeliveryPolicy" and value:
            messages.check_delivery_policy(value)
        updated = replace(topic, attributes={**topic.attributes, name: value})
        await self._write(PutTopic(updated))
        self._topics[arn] = updated

    @_serialized
    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        topic = self._tagged(arn)
        if len({**topic.tags, **tags}) > 50:
            raise SnsError("TagLimitExceeded", "Could not complete request: tag quota of per "
                           "resource exceeded", 400)  # fmt: skip
        updated = replace(topic, tags={**topic.tags, **tags})
        await self._write(PutTopic(updated))
        self._topics[arn] = updated

    @_serialized
    async def untag(self, arn: str, keys: builtins.list[str]) -> None:
        topic = self._tagged(arn)
        updated = replace(topic, tags={k: v for k, v in topic.tags.items() if k not in keys})
        await self._write(PutTopic(updated))
        self._topics[arn] = updated

    def _tagged(self, arn: str) -> Topic:
        found = self._topics.get(arn)
        if found is None:
            raise SnsError("ResourceNotFound", "Resource does not exist", 404)
        return found

    def tags(self, arn: str) -> dict[str, str]:
        return self._tagged(arn).tags

    # ----- subscriptions ------------------------------------------------------------------
    def find_topic(self, arn: str) -> Topic | None:
        return self._topics.get(arn)

    def find_subscription(self, arn: str) -> Subscription | None:
        return self._subscriptions.get(arn)

    def subscription(self, arn: str) -> Subscription:
        found = self._subscriptions.get(arn)
        if found is None:
            raise not_found("Subscription does not exist")
        return found

    @_serialized
    async def subscribe(
        self, topic_arn: str, protocol: str, endpoint: str, attributes: dict[str, str]
    ) -> Subscription:
        """A subscription (the same one again for the same protocol and endpoint). Functions
        and queues are confirmed at once, as on AWS within an account."""
        self.topic(topic_arn)
        if protocol not in PROTOCOLS:
            raise invalid(f"Invalid protocol type: {protocol}"[:200] if protocol not in (
                "http", "https", "email", "email-json", "sms", "application", "firehose")
                else f"firebox does not deliver to {protocol} endpoints yet")  # fmt: skip
        if protocol in ("http", "https"):
            if not re.match(rf"^{protocol}://[^\s/]+", endpoint or "") or len(endpoint) > 2048:
                raise invalid("Endpoint must match the specified protocol")
            try:
                httpx.URL(endpoint)
            except Exception:  # httpx says what is wrong in several exception types
                raise invalid("Endpoint must be a valid URL") from None
        elif not re.match(rf"^arn:aws:{protocol}:[a-z0-9-]+:\d{{12}}:.+", endpoint or ""):
            raise invalid(f"{'Lambda' if protocol == 'lambda' else 'SQS'} endpoint ARN")
        topic = self.topic(topic_arn)
        fifo_topic = topic.attributes.get("FifoTopic", "").lower() == "true"
        if fifo_topic and (protocol != "sqs" or not endpoint.endswith(".fifo")):
            raise invalid("Invalid protocol type: FIFO topics deliver to SQS FIFO queues only"
                          if protocol != "sqs" else
                          "Endpoint Reason: FIFO SNS topics can only be subscribed by FIFO SQS "
                          "queues")  # fmt: skip
        if not fifo_topic and protocol == "sqs" and endpoint.endswith(".fifo"):
            raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be "
                          "subscribed to standard SNS topics")  # fmt: skip
        if protocol == "lambda" and attributes.get("RawMessageDelivery", "").lower() == "true":
            raise invalid("Attributes Reason: Delivery protocol [lambda] does not support raw "
                          "message delivery.")  # fmt: skip
        for existing in self._subscriptions.values():
            if (existing.topic_arn, existing.protocol, existing.endpoint) == (
                topic_arn,
                protocol,
                endpoint,
            ):
                if existing.pending:  # as SNS does: the confirmation is sent again
                    again = messages.confirmation(existing, _timestamp(self.clock()),
                                                  self.region, self.endpoint)  # fmt: skip
                    await self._write(AddDeliveries((again,)))
                    self.on_deliveries()
                return existing
        checked = self._check_attributes(attributes)
        sub = Subscription(f"{topic_arn}:{uuid.uuid4()}", topic_arn, protocol, endpoint, checked)
        writes: list[Write] = [PutSubscription(sub)]
        if protocol in ("http", "https"):  # confirmed only once the endpoint says so
            sub = replace(sub, token=secrets.token_hex(64), confirmed=False)
            confirmation = messages.confirmation(sub, _timestamp(self.clock()), self.region,
                                                 self.endpoint)  # fmt: skip
            writes = [PutSubscription(sub), AddDeliveries((confirmation,))]
        await self._write(*writes)
        self._subscriptions[sub.arn] = sub
        if not sub.confirmed:
            self.on_deliveries()
        return sub

    @_serialized
    async def confirm(self, topic_arn: str, token: str) -> Subscription:
        """ConfirmSubscription: the subscription whose confirmation carried this token."""
        self.topic(topic_arn)
        mine = (s for s in self._subscriptions.values() if s.topic_arn == topic_arn)
        found = next((s for s in mine if s.token and s.token == token), None)
        if found is None:
            raise invalid("Token")
        if not found.confirmed:
            found = replace(found, confirmed=True)
            await self._write(PutSubscription(found))
            self._subscriptions[found.arn] = found
        return found

    @staticmethod
    def _check_attributes(attributes: dict[str, str]) -> dict[str, str]:
        for name, value in attributes.items():
            if name not in SUBSCRIPTION_ATTRIBUTES:
                raise invalid("AttributeName")
            if name == "FilterPolicy" and value:
                messages.check_filter_policy(value)
            if name == "DeliveryPolicy" and value:
                messages.check_delivery_policy(value)
            if name == "FilterPolicyScope" and value not in ("MessageAttributes", "MessageBody"):
                raise invalid("Attributes Reason: FilterPolicyScope: Invalid value "
                              f"[{value[:50]}]. Please use either MessageBody or "
                              "MessageAttributes")  # fmt: skip
            if name == "RawMessageDelivery" and value.lower() not in ("true", "false"):
                raise invalid("Attributes Reason: RawMessageDelivery: Invalid value "
                              f"[{value[:50]}]. Must be true or false.")  # fmt: skip
            if name == "RedrivePolicy" and value:
                try:
                    target = json.loads(value)["deadLetterTargetArn"]
                except (ValueError, KeyError, TypeError):
                    raise invalid("RedrivePolicy: Invalid RedrivePolicy, please provide a "
                                  "deadLetterTargetArn") from None  # fmt: skip
                if not str(target).startswith("arn:aws:sqs:"):
                    raise invalid("RedrivePolicy: deadLetterTargetArn must be an SQS queue ARN")
        return dict(attributes)

    @_serialized
    async def unsubscribe(self, arn: str) -> None:
        if arn not in self._subscriptions:
            return  # as SNS: unsubscribing twice is fine
        await self._write(DropSubscription(arn))
        self._subscriptions.pop(arn, None)

    def subscriptions(self, topic_arn: str | None = None) -> builtins.list[Subscription]:
        if topic_arn is not None:
            self.topic(topic_arn)
        return sorted(
            (
                s
                for s in self._subscriptions.values()
                if topic_arn is None or s.topic_arn == topic_arn
            ),
            key=lambda s: s.arn,
        )

    def subscription_attributes(self, arn: str) -> dict[str, str]:
        sub = self.subscription(arn)
        out = {
            "SubscriptionArn": sub.arn, "TopicArn": sub.topic_arn, "Owner": self.account,
            "Protocol": sub.protocol, "Endpoint": sub.endpoint,
            "ConfirmationWasAuthenticated": "true",
            "PendingConfirmation": "true" if sub.pending else "false",
            "RawMessageDelivery": "false",
        }  # fmt: skip
        out.update(sub.attributes)
        if "FilterPolicy" in sub.attributes:
            out.setdefault("FilterPolicyScope", "MessageAttributes")
        return out

    @_serialized
    async def set_subscription_attribute(self, arn: str, name: str, value: str) -> None:
        sub = self.subscription(arn)
        self._check_attributes({name: value})
        attributes = {**sub.attributes, name: value}
        if name == "FilterPolicy" and not value:
            attributes.pop("FilterPolicy")
        updated = replace(sub, attributes=attributes)
        await self._write(PutSubscription(updated))
        self._subscriptions[arn] = updated

    # ----- publishing ---------------------------------------------------------------------
    async def publish(self, topic_arn: str, message: Message) -> Published:
        """Fans one message out: its deliveries are on disk when this returns."""
        (result,) = await self.publish_batch(topic_arn, [message])
        if isinstance(result, SnsError):
            raise result
        return result

    async def publish_batch(
        self, topic_arn: str, batch: builtins.list[Message]
    ) -> builtins.list[Published | SnsError]:
        """Each message fanned out on its own (one may fail), stored in one transaction."""
        topic = self.topic(topic_arn)
        fifo = topic.attributes.get("FifoTopic", "").lower() == "true"
        results: list[Published | SnsError] = []
        deliveries: list[Delivery] = []
        now = self.clock()
        subscriptions = [s for s in self._subscriptions.values() if s.topic_arn == topic_arn]
        for item in batch:
            try:
                messages.check(item, fifo, topic.attributes)
            except SnsError as exc:
                results.append(exc)
                continue
            message_id = str(uuid.uuid4())
            sequence = dedup = None
            if fifo:
                # increasing across restarts too: from the clock, never below the last one
                self._sequence = max(self._sequence + 1, 10**19 + time.time_ns())
                sequence = str(self._sequence)
                dedup = item.dedup_id or hashlib.sha256(item.body.encode()).hexdigest()
            timestamp = _timestamp(now)
            for sub in subscriptions:
                if sub.pending or not messages.accepted(sub, item):
                    continue
                deliveries.append(
                    messages.delivery(
                        sub,
                        topic_arn,
                        item,
                        message_id,
                        timestamp,
                        self.region,
                        self.account,
                        sequence,
                        dedup,
                    )
                )
            results.append(Published(message_id, sequence))
        if deliveries:
            await self._write(AddDeliveries(tuple(deliveries)))
            self.on_deliveries()
        if self.observe is not None:
            dims = {"TopicName": topic.name}
            for item, result in zip(batch, results, strict=True):
                if not isinstance(result, SnsError):
                    self.observe("NumberOfMessagesPublished", dims, 1, "Count")
                    self.observe("PublishSize", dims, len(item.body.encode()), "Bytes")
        return results

    def pending(
        self, limit: int = 100, skip: frozenset[int] = frozenset()
    ) -> builtins.list[Delivery]:
        """Stored deliveries in order, but for those in `skip` (being retried elsewhere)."""
        return self.store.deliveries(limit, skip)

    async def delivered(self, ids: builtins.list[int]) -> None:
        await self._write(DropDeliveries(tuple(ids)))

    def close(self) -> None:
        self.store.close()


def _timestamp(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

"""What the topic service keeps: topics, subscriptions, and deliveries not yet handed on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Topic:
    name: str
    arn: str
    attributes: dict[str, str] = field(default_factory=dict)  # DisplayName, Policy, FifoTopic…
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str  # lambda | sqs
    endpoint: str  # the function's or queue's ARN
    attributes: dict[str, str] = field(default_factory=dict)  # RawMessageDelivery, FilterPolicy…
    token: str = ""  # http(s): the confirmation token ConfirmSubscription must present
    confirmed: bool = True  # http(s) subscriptions start unconfirmed

    @property
    def pending(self) -> bool:
        return not self.confirmed


@dataclass(frozen=True)
class Delivery:
    """One message for one subscription: stored with the Publish that caused it (one
    transaction), removed once handed to its target."""

    subscription_arn: str
    protocol: str
    endpoint: str
    body: str  # what the target gets (the Lambda event, the SQS envelope or raw message)
    id: int = 0
    attributes: str = ""  # raw delivery to SQS: the message attributes, as JSON
    group_id: str | None = None  # FIFO topics → FIFO queues: the group and deduplication ids
    dedup_id: str | None = None
    # http(s): the x-amz-sns-* headers the POST carries
    kind: str = "Notification"  # or SubscriptionConfirmation
    message_id: str = ""
    raw: bool = False


@dataclass(frozen=True)
class Message:
    """One message to publish, as Publish or a PublishBatch entry gives it."""

    body: str
    subject: str | None = None
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    structure: str | None = None  # "json": a message per protocol, with a "default"
    group_id: str | None = None
    dedup_id: str | None = None

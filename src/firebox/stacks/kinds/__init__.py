"""The resource types a stack can hold, each made through its service's typed commands."""

from __future__ import annotations

from firebox.stacks.kinds.base import Kind
from firebox.stacks.kinds.buckets import Bucket, ExistingBucketNotifications
from firebox.stacks.kinds.events import EventBus, Rule, Schedule
from firebox.stacks.kinds.functions import (
    Alias,
    EventInvokeConfig,
    EventSourceMapping,
    Function,
    HttpRoute,
    LayerVersion,
    Permission,
    Url,
    Version,
)
from firebox.stacks.kinds.logs import LogGroup
from firebox.stacks.kinds.queues import Queue, QueuePolicy
from firebox.stacks.kinds.roles import Role
from firebox.stacks.kinds.topics import Subscription, Topic, TopicPolicy


def all_kinds() -> dict[str, Kind]:
    """Every type firebox makes, by its CloudFormation name."""
    kinds: list[Kind] = [
        Function(), Version(), Alias(), Permission(), Url(), EventSourceMapping(), HttpRoute(),
        EventInvokeConfig(), LayerVersion(),
        Queue(), QueuePolicy(), Bucket(), ExistingBucketNotifications(), Topic(), Subscription(),
        TopicPolicy(), Rule(), EventBus(), Schedule(), Role(), LogGroup(),
    ]  # fmt: skip
    return {kind.type_name: kind for kind in kinds}

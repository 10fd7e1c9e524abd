"""SNS's resource types: topics (with inline subscriptions), subscriptions, topic policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.stacks.kinds.base import Applied, Context, Made, Props, changed

SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                           "RedrivePolicy", "DeliveryPolicy")  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


class Topic:
    type_name: ClassVar[str] = "AWS::SNS::Topic"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("TopicName", "FifoTopic"))

    def _attributes(self, p: Props) -> dict[str, str]:
        out = {}
        for name in ("DisplayName", "FifoTopic", "ContentBasedDeduplication"):
            if p.get(name) is not None:
                out[name] = _text(p.get(name))
        return out

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        fifo = p.boolean("FifoTopic", False)
        name = p.text("TopicName") or (ctx.generated_name(logical_id, 251) + ".fifo" if fifo
                                       else ctx.generated_name(logical_id, 256))  # fmt: skip
        topics = ctx.services.topics
        topic = await topics.create_topic(name, self._attributes(p), p.tags())
        try:
            await self._subscribe(ctx, topic.arn, p.items("Subscription"))
        except BaseException:
            await topics.delete_topic(topic.arn)
            raise
        return self._made(topic.arn, name)

    async def _subscribe(self, ctx: Context, arn: str, wanted: list[Any]) -> None:
        """The inline subscriptions: those wanted made, the others (of the topic) removed."""
        topics = ctx.services.topics
        keys = {(str(s["Protocol"]), str(s["Endpoint"])) for s in wanted}
        for sub in topics.subscriptions(arn):
            if (sub.protocol, sub.endpoint) not in keys:
                await topics.unsubscribe(sub.arn)
        for protocol, endpoint in sorted(keys):
            await topics.subscribe(arn, protocol, endpoint, {})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        topics, arn = ctx.services.topics, old.physical_id
        for name, value in self._attributes(p).items():
            if name != "FifoTopic":
                await topics.set_topic_attribute(arn, name, value)
        if changed(old.properties, p.values, ("Subscription",)):
            await self._subscribe(ctx, arn, p.items("Subscription"))
        if changed(old.properties, p.values, ("Tags",)):
            stale = sorted(set(topics.tags(arn)) - set(p.tags()))
            if stale:
                await topics.untag(arn, stale)
            if p.tags():
                await topics.tag(arn, p.tags())
        return self._made(arn, old.attributes["TopicName"])

    async def delete(self, ctx: Context, old: Applied) -> None:
        await ctx.services.topics.delete_topic(old.physical_id)

    def _made(self, arn: str, name: str) -> Made:
        return Made(arn, {"Ref": arn, "TopicArn": arn, "TopicName": name})


class Subscription:
    type_name: ClassVar[str] = "AWS::SNS::Subscription"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("TopicArn", "Protocol", "Endpoint"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        attributes = {n: _text(p.get(n)) for n in SUBSCRIPTION_ATTRIBUTES if p.get(n) is not None}
        sub = await ctx.services.topics.subscribe(
            str(p.required("TopicArn")), str(p.required("Protocol")), str(p.required("Endpoint")),
            attributes,
        )  # fmt: skip
        return Made(sub.arn, {"Ref": sub.arn, "Arn": sub.arn})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        topics = ctx.services.topics
        for name in SUBSCRIPTION_ATTRIBUTES:
            if old.properties.get(name) == p.get(name):
                continue
            value = p.get(name)
            default = "false" if name == "RawMessageDelivery" else (
                "MessageAttributes" if name == "FilterPolicyScope" else "")  # fmt: skip
            await topics.set_subscription_attribute(
                old.physical_id, name, default if value is None else _text(value)
            )
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await ctx.services.topics.unsubscribe(old.physical_id)


class TopicPolicy:
    type_name: ClassVar[str] = "AWS::SNS::TopicPolicy"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return False

    async def _set(self, ctx: Context, arns: list[Any], policy: str | None) -> None:
        topics = ctx.services.topics
        for arn in arns:
            if topics.find_topic(str(arn)) is None and policy is None:
                continue
            # No policy: the topic's default one (its owner may do everything).
            default = json.dumps(topics.default_policy(str(arn)))
            await topics.set_topic_attribute(str(arn), "Policy", policy or default)

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        p.required("Topics")
        await self._set(ctx, p.items("Topics"), p.document("PolicyDocument"))
        return Made(f"{ctx.stack}-{logical_id}", {"Ref": f"{ctx.stack}-{logical_id}"})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        dropped = [t for t in old.properties.get("Topics", []) if t not in p.items("Topics")]
        await self._set(ctx, dropped, None)
        await self._set(ctx, p.items("Topics"), p.document("PolicyDocument"))
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await self._set(ctx, list(old.properties.get("Topics", [])), None)

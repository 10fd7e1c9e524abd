"""SNS's resource types: topics (with inline subscriptions), subscriptions, topic policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.stacks.kinds.base import (
    Applied,
    Context,
    Made,
    Props,
    adopted,
    already_exists,
    changed,
    text_value,
)

SUBSCRIPTION_ATTRIBUTES = ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                           "RedrivePolicy", "DeliveryPolicy")  # fmt: skip


class Topic:
    type_name: ClassVar[str] = "AWS::SNS::Topic"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return ctx.services.topics.arn(self._name(ctx, logical_id, p))

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("TopicName", "FifoTopic"))

    def _attributes(self, p: Props, old: Mapping[str, Any]) -> dict[str, str]:
        """The attributes to set; those the template dropped back to their defaults."""
        out = {}
        for name, default in (("DisplayName", ""), ("FifoTopic", None),
                              ("ContentBasedDeduplication", "false")):  # fmt: skip
            if p.get(name) is not None:
                out[name] = text_value(p.get(name))
            elif name in old and default is not None:
                out[name] = default
        return out

    def _name(self, ctx: Context, logical_id: str, p: Props) -> str:
        fifo = p.boolean("FifoTopic", False)
        return p.text("TopicName") or (ctx.generated_name(logical_id, 251) + ".fifo" if fifo
                                       else ctx.generated_name(logical_id, 256))  # fmt: skip

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = self._name(ctx, logical_id, p)
        topics = ctx.services.topics
        if topics.find_topic(topics.arn(name)) is not None:
            raise already_exists("Topic", name)
        topic = await topics.create_topic(name, self._attributes(p, {}), p.tags())
        try:
            made = await self._subscribe(ctx, topic.arn, p.items("Subscription"), [])
        except BaseException:
            await topics.delete_topic(topic.arn)
            raise
        return self._made(topic.arn, made)

    async def _subscribe(self, ctx: Context, arn: str, wanted: list[Any],
                         ours: list[str]) -> list[str]:  # fmt: skip
        """The inline subscriptions: those wanted made; those this resource made before and
        no longer wants removed (never another's). Returns the ARNs of this resource's."""
        topics = ctx.services.topics
        keys = {(str(s["Protocol"]), str(s["Endpoint"])) for s in wanted}
        for sub in topics.subscriptions(arn):
            if sub.arn in ours and (sub.protocol, sub.endpoint) not in keys:
                await topics.unsubscribe(sub.arn)
        made = []
        for protocol, endpoint in sorted(keys):
            made.append((await topics.subscribe(arn, protocol, endpoint, {})).arn)
        return made

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        topics, arn = ctx.services.topics, old.physical_id
        for name, value in self._attributes(p, old.properties).items():
            if name != "FifoTopic":
                await topics.set_topic_attribute(arn, name, value)
        made = list(old.attributes.get("Subscriptions", []))
        if changed(old.properties, p.values, ("Subscription",)):
            made = await self._subscribe(ctx, arn, p.items("Subscription"), made)
        if changed(old.properties, p.values, ("Tags",)):
            stale = sorted(set(topics.tags(arn)) - set(p.tags()))
            if stale:
                await topics.untag(arn, stale)
            if p.tags():
                await topics.tag(arn, p.tags())
        return self._made(arn, made)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await ctx.services.topics.delete_topic(old.physical_id)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        topics = ctx.services.topics
        arn = topics.arn(self._name(ctx, logical_id, p))
        if topics.find_topic(arn) is None:
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, arn))

    def _made(self, arn: str, subscriptions: list[str]) -> Made:
        name = arn.rsplit(":", 1)[-1]
        return Made(arn, {"Ref": arn, "TopicArn": arn, "TopicName": name,
                          "Subscriptions": subscriptions})  # fmt: skip


class Subscription:
    type_name: ClassVar[str] = "AWS::SNS::Subscription"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return None  # drawn by SNS

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("TopicArn", "Protocol", "Endpoint"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        attributes = {
            n: text_value(p.get(n)) for n in SUBSCRIPTION_ATTRIBUTES if p.get(n) is not None
        }
        topics = ctx.services.topics
        sub = await topics.subscribe(
            str(p.required("TopicArn")), str(p.required("Protocol")), str(p.required("Endpoint")),
            attributes,
        )  # fmt: skip
        # The same protocol and endpoint again is the same subscription (as SNS answers):
        # its attributes are this template's.
        for name, value in attributes.items():
            if sub.attributes.get(name) != value:
                await topics.set_subscription_attribute(sub.arn, name, value)
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
                old.physical_id, name, default if value is None else text_value(value)
            )
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await ctx.services.topics.unsubscribe(old.physical_id)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # subscribing again finds the subscription an interrupted one made


class TopicPolicy:
    type_name: ClassVar[str] = "AWS::SNS::TopicPolicy"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return f"{ctx.stack}-{logical_id}"

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

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # setting a policy again is the same as setting it once

"""SQS's resource types: queues and their policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.queues.errors import SqsError
from firebox.stacks.kinds.base import (
    Applied,
    Context,
    Made,
    Props,
    adopted,
    already_exists,
    arn_tail,
    changed,
    text_value,
)

# Properties that are queue attributes, with the same names as SetQueueAttributes takes.
ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
              "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy",
              "RedriveAllowPolicy", "ContentBasedDeduplication", "DeduplicationScope",
              "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
              "SqsManagedSseEnabled")  # fmt: skip
# What a property dropped from the template returns to (each valid wherever it was set).
DEFAULTS = {"DelaySeconds": "0", "MaximumMessageSize": "262144",
            "MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0",
            "VisibilityTimeout": "30", "RedrivePolicy": "",
            "RedriveAllowPolicy": '{"redrivePermission":"allowAll"}',
            "ContentBasedDeduplication": "false", "DeduplicationScope": "queue",
            "FifoThroughputLimit": "perQueue", "KmsMasterKeyId": "",
            "KmsDataKeyReusePeriodSeconds": "300", "SqsManagedSseEnabled": "true"}  # fmt: skip


def _attributes(p: Props) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ATTRIBUTES:
        if p.get(name) is not None:
            out[name] = text_value(p.get(name))
    return out


def queue_url(ctx: Context, name: str) -> str:
    return f"{ctx.endpoint}/{ctx.services.account}/{name}"


class Queue:
    type_name: ClassVar[str] = "AWS::SQS::Queue"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return self._name(ctx, logical_id, p)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("QueueName", "FifoQueue"))

    def _name(self, ctx: Context, logical_id: str, p: Props) -> str:
        fifo = p.boolean("FifoQueue", False)
        return p.text("QueueName") or (
            ctx.generated_name(logical_id, 75) + ".fifo" if fifo
            else ctx.generated_name(logical_id, 80))  # fmt: skip

    def _exists(self, ctx: Context, name: str) -> bool:
        try:
            ctx.services.queues.queue(name)
        except SqsError:
            return False
        return True

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        fifo = p.boolean("FifoQueue", False)
        name = self._name(ctx, logical_id, p)
        if self._exists(ctx, name):
            raise already_exists("Queue", name)
        attributes = _attributes(p)
        if fifo:
            attributes["FifoQueue"] = "true"
        queue = await ctx.services.queues.create_queue(name, attributes, p.tags() or None)
        return self._made(ctx, queue.name, queue.arn)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        queues = ctx.services.queues
        queue = queues.queue(old.physical_id)
        attributes = _attributes(p)
        for name in ATTRIBUTES:  # a property dropped from the template returns to the default
            if name in old.properties and name not in attributes and name in DEFAULTS:
                attributes[name] = DEFAULTS[name]
        if attributes:
            await queues.set_attributes(queue, attributes)
        if changed(old.properties, p.values, ("Tags",)):
            stale = set(queue.tags) - set(p.tags())
            if stale:
                await queues.untag(queue, stale)
            if p.tags():
                await queues.tag(queue, p.tags())
        return self._made(ctx, queue.name, queue.arn)

    async def delete(self, ctx: Context, old: Applied) -> None:
        queues = ctx.services.queues
        try:
            queue = queues.queue(old.physical_id)
        except SqsError:
            return  # gone already
        await queues.delete_queue(queue)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = self._name(ctx, logical_id, p)
        if not self._exists(ctx, name):
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, name))

    def _made(self, ctx: Context, name: str, arn: str) -> Made:
        url = queue_url(ctx, name)
        return Made(name, {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url})


class QueuePolicy:
    type_name: ClassVar[str] = "AWS::SQS::QueuePolicy"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return f"{ctx.stack}-{logical_id}"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return False

    async def _set(self, ctx: Context, urls: list[Any], policy: str) -> None:
        for url in urls:
            try:
                queue = ctx.services.queues.queue(arn_tail(str(url)))
            except SqsError:
                if not policy:
                    continue  # removing a policy from a queue that is gone
                raise
            await ctx.services.queues.set_attributes(queue, {"Policy": policy})

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        p.required("Queues")
        await self._set(ctx, p.items("Queues"), p.document("PolicyDocument") or "")
        return Made(f"{ctx.stack}-{logical_id}", {"Ref": f"{ctx.stack}-{logical_id}"})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        dropped = [q for q in old.properties.get("Queues", []) if q not in p.items("Queues")]
        await self._set(ctx, dropped, "")
        await self._set(ctx, p.items("Queues"), p.document("PolicyDocument") or "")
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await self._set(ctx, list(old.properties.get("Queues", [])), "")

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # setting a policy again is the same as setting it once

"""S3's resource types: buckets with their notification configuration, and firebox's
notifications on a bucket the stack did not make (the Framework's `existing: true`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.objects.errors import S3Error
from firebox.stacks.kinds.base import Applied, Context, Made, Props, adopted, changed

# CloudFormation's sections → the object store's (the API's XML names).
SECTIONS = (("LambdaConfigurations", "LambdaFunctionConfigurations", "Function",
             "LambdaFunctionArn"),
            ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
            ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"))  # fmt: skip


def notification_config(config: Mapping[str, Any], id_prefix: str = "") -> dict[str, Any]:
    """A NotificationConfiguration property as the object store reads one."""
    out: dict[str, Any] = {}
    for cfn, section, member, arn_name in SECTIONS:
        for index, item in enumerate(config.get(cfn) or []):
            rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            out.setdefault(section, []).append({
                "Id": item.get("Id") or (f"{id_prefix}{index}" if id_prefix else None),
                arn_name: str(item.get(member, "")),
                "Events": [str(item.get("Event", ""))],
                "FilterRules": [{"Name": str(r.get("Name")), "Value": str(r.get("Value"))}
                                for r in rules],
            })  # fmt: skip
    return out


def _current(ctx: Context, bucket: str) -> dict[str, Any]:
    """A bucket's notification configuration as it stands, in the store's reading form."""
    out: dict[str, Any] = {}
    sections = {"lambda": ("LambdaFunctionConfigurations", "LambdaFunctionArn"),
                "sqs": ("QueueConfigurations", "QueueArn"),
                "sns": ("TopicConfigurations", "TopicArn")}  # fmt: skip
    for rule in ctx.services.objects.notification_rules(bucket):
        section, arn_name = sections[rule.kind]
        filters = [{"Name": n, "Value": v} for n, v in (("prefix", rule.prefix),
                                                       ("suffix", rule.suffix)) if v]  # fmt: skip
        out.setdefault(section, []).append(
            {
                "Id": rule.id,
                arn_name: rule.target,
                "Events": list(rule.events),
                "FilterRules": filters,
            }
        )
    return out


async def _put(ctx: Context, bucket: str, config: dict[str, Any]) -> None:
    await ctx.services.objects.put_notifications(bucket, config, str(uuid.uuid4()))


class Bucket:
    type_name: ClassVar[str] = "AWS::S3::Bucket"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("BucketName") or ctx.generated_name(logical_id, 63, lower=True)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("BucketName",))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = p.text("BucketName") or ctx.generated_name(logical_id, 63, lower=True)
        objects = ctx.services.objects
        await objects.create_bucket(name)
        try:
            if p.tags():
                await objects.put_bucket_tags(name, p.tags())
            if p.mapping("NotificationConfiguration"):
                await _put(ctx, name, notification_config(p.mapping("NotificationConfiguration")))
        except BaseException:
            await objects.delete_bucket(name)  # made whole, or not at all
            raise
        return self._made(ctx, name)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        name = old.physical_id
        if changed(old.properties, p.values, ("Tags",)):
            await ctx.services.objects.put_bucket_tags(name, p.tags() or None)
        if changed(old.properties, p.values, ("NotificationConfiguration",)):
            await _put(ctx, name, notification_config(p.mapping("NotificationConfiguration")))
        return self._made(ctx, name)

    async def delete(self, ctx: Context, old: Applied) -> None:
        if not ctx.services.objects.has_bucket(old.physical_id):
            return
        await ctx.services.objects.delete_bucket(old.physical_id)  # BucketNotEmpty: reported

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = p.text("BucketName") or ctx.generated_name(logical_id, 63, lower=True)
        if not ctx.services.objects.has_bucket(name):
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, name))

    def _made(self, ctx: Context, name: str) -> Made:
        host = f"{name}.s3.amazonaws.com"
        return Made(name, {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": host,
                           "RegionalDomainName": f"{name}.s3.{ctx.services.region}.amazonaws.com",
                           "WebsiteURL": f"http://{name}.s3-website-{ctx.services.region}"
                                         ".amazonaws.com"})  # fmt: skip


class ExistingBucketNotifications:
    """Notifications this stack adds to a bucket it did not make: its own configurations (ids
    prefixed with the stack's and this resource's names) merged with the bucket's others."""

    type_name: ClassVar[str] = "Firebox::S3::BucketNotifications"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return f"{p.required('BucketName')}/{self._prefix(ctx, logical_id)}"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("BucketName",))

    def _prefix(self, ctx: Context, logical_id: str) -> str:
        return f"{ctx.stack}-{logical_id}-"

    async def _merge(self, ctx: Context, bucket: str, prefix: str,
                     ours: Mapping[str, Any] | None) -> None:  # fmt: skip
        config = {section: [item for item in items if not str(item["Id"]).startswith(prefix)]
                  for section, items in _current(ctx, bucket).items()}  # fmt: skip
        for section, items in notification_config(ours or {}, prefix).items():
            config.setdefault(section, []).extend(items)
        await _put(ctx, bucket, {k: v for k, v in config.items() if v})

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        bucket = str(p.required("BucketName"))
        ctx.services.objects.bucket(bucket)  # NoSuchBucket: `existing: true` needs one
        await self._merge(ctx, bucket, self._prefix(ctx, logical_id),
                          p.mapping("NotificationConfiguration"))  # fmt: skip
        return Made(f"{bucket}/{self._prefix(ctx, logical_id)}", {"Ref": bucket})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        await self._merge(ctx, old.properties["BucketName"], self._prefix(ctx, old.logical_id),
                          p.mapping("NotificationConfiguration"))  # fmt: skip
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        bucket = str(old.properties["BucketName"])
        try:
            await self._merge(ctx, bucket, self._prefix(ctx, old.logical_id), None)
        except S3Error as exc:
            if exc.error_type != "NoSuchBucket":
                raise

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # merging again is the same as merging once

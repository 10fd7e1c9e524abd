"""EventBridge's and the Scheduler's resource types: buses, rules with their targets,
schedules."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.domain.errors import LambdaError
from firebox.eventbridge.records import Target
from firebox.scheduler.service import Spec
from firebox.stacks.kinds.base import (
    Applied,
    Context,
    Made,
    Props,
    adopted,
    already_exists,
    changed,
)


def _target(item: Mapping[str, Any]) -> Target:
    transformer = item.get("InputTransformer")
    return Target(
        id=str(item["Id"]),
        arn=str(item["Arn"]),
        input=item["Input"]
        if isinstance(item.get("Input"), str)
        else (json.dumps(item["Input"]) if "Input" in item else None),
        input_path=item.get("InputPath"),
        input_transformer=dict(transformer) if transformer else None,
        role_arn=item.get("RoleArn"),
        dead_letter_arn=(item.get("DeadLetterConfig") or {}).get("Arn"),
        retry_policy=item.get("RetryPolicy"),
        message_group_id=(item.get("SqsParameters") or {}).get("MessageGroupId"),
    )


class Rule:
    type_name: ClassVar[str] = "AWS::Events::Rule"
    location: ClassVar[tuple[str, ...]] = ("EventBusName",)

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("Name") or ctx.generated_name(logical_id, 64)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("Name", "EventBusName"))

    async def _put(self, ctx: Context, name: str, p: Props, old: Applied | None) -> Made:
        events = ctx.services.events
        bus = p.text("EventBusName")
        rule = await events.put_rule(
            name, bus, p.document("EventPattern"), p.text("ScheduleExpression"),
            p.text("State", "ENABLED"), p.text("Description"), p.text("RoleArn"), {},
        )  # fmt: skip
        targets = [_target(t) for t in p.items("Targets")]
        wanted = {t.id for t in targets}
        stale = [t.id for t in rule.targets if t.id not in wanted]
        if stale:
            await events.remove_targets(name, bus, stale)
        if targets:
            failures = await events.put_targets(name, bus, targets)
            if failures:
                first = failures[0]
                raise p.fail(f"target {first.target_id}: {first.message}")
        return Made(name, {"Ref": name, "Arn": rule.arn})

    def _exists(self, ctx: Context, name: str, bus: str | None) -> bool:
        try:
            ctx.services.events.rule(name, bus)
        except LambdaError:
            return False
        return True

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = p.text("Name") or ctx.generated_name(logical_id, 64)
        if self._exists(ctx, name, p.text("EventBusName")):
            raise already_exists("Rule", name)
        try:
            return await self._put(ctx, name, p, None)
        except BaseException:
            await ctx.services.events.delete_rule(name, p.text("EventBusName"), force=True)
            raise

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = p.text("Name") or ctx.generated_name(logical_id, 64)
        if not self._exists(ctx, name, p.text("EventBusName")):
            return None
        return await self._put(ctx, name, p, None)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return await self._put(ctx, old.physical_id, p, old)

    async def delete(self, ctx: Context, old: Applied) -> None:
        bus = old.properties.get("EventBusName")
        await ctx.services.events.delete_rule(old.physical_id, bus, force=True)


class EventBus:
    type_name: ClassVar[str] = "AWS::Events::EventBus"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return str(p.required("Name"))

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("Name",))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = str(p.required("Name"))
        bus = await ctx.services.events.create_bus(name, p.text("Description", "") or "",
                                                   p.tags())  # fmt: skip
        return Made(name, {"Ref": name, "Name": name, "Arn": bus.arn})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await ctx.services.events.delete_bus(old.physical_id)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = str(p.required("Name"))
        found = [b for b in ctx.services.events.buses() if b.name == name]
        return Made(name, {"Ref": name, "Name": name, "Arn": found[0].arn}) if found else None


def _instant(p: Props, name: str) -> float | None:
    """An ISO 8601 date-time property (StartDate, EndDate) as a timestamp."""
    value = p.text(name)
    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise p.fail(f"#/{name}: {value} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _spec(p: Props) -> Spec:
    target = p.mapping("Target")
    return Spec(
        expression=str(p.required("ScheduleExpression")),
        target=dict(target) if target else p.required("Target"),
        flexible_window=p.mapping("FlexibleTimeWindow") or {"Mode": "OFF"},
        timezone=p.text("ScheduleExpressionTimezone"),
        start=_instant(p, "StartDate"),
        end=_instant(p, "EndDate"),
        description=p.text("Description"),
        state=p.text("State", "ENABLED"),
    )


class Schedule:
    type_name: ClassVar[str] = "AWS::Scheduler::Schedule"
    location: ClassVar[tuple[str, ...]] = ("GroupName",)

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("Name") or ctx.generated_name(logical_id, 64)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("Name", "GroupName"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = p.text("Name") or ctx.generated_name(logical_id, 64)
        schedule = await ctx.services.scheduler.create(name, p.text("GroupName"), _spec(p))
        return Made(name, {"Ref": name, "Arn": schedule.arn})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        schedule = await ctx.services.scheduler.update(old.physical_id, p.text("GroupName"),
                                                      _spec(p))  # fmt: skip
        return Made(old.physical_id, {"Ref": old.physical_id, "Arn": schedule.arn})

    async def delete(self, ctx: Context, old: Applied) -> None:
        scheduler = ctx.services.scheduler
        group = old.properties.get("GroupName") or "default"
        if any(s.name == old.physical_id for s in scheduler.schedules(group)):
            await scheduler.delete(old.physical_id, group)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = p.text("Name") or ctx.generated_name(logical_id, 64)
        group = p.text("GroupName") or "default"
        if not any(s.name == name for s in ctx.services.scheduler.schedules(group)):
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, name))

"""CloudWatch Logs' resource type: log groups and their retention."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.stacks.kinds.base import Applied, Context, Made, Props, already_exists, changed
from firebox.telemetry.logstore import GroupExists, NoSuchGroup


class LogGroup:
    type_name: ClassVar[str] = "AWS::Logs::LogGroup"

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("LogGroupName",))

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("LogGroupName") or ctx.generated_name(logical_id, 512)

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = str(self.name(ctx, logical_id, p))
        logs = ctx.services.logs
        try:
            logs.create_group(name, int(time.time() * 1000))
        except GroupExists:
            # A function's group that only its lines made (as Lambda makes one, before a
            # stack named it: a service deployed before firebox made groups) is the
            # function's: the stack that makes the function takes it.
            if logs.log_group(name).made or not name.startswith("/aws/lambda/"):
                raise already_exists("Log group", name) from None
        logs.set_retention(name, p.integer("RetentionInDays"))
        ctx.services.logs_changed()
        return self._made(ctx, name)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        ctx.services.logs.set_retention(old.physical_id, p.integer("RetentionInDays"))
        ctx.services.logs_changed()
        return self._made(ctx, old.physical_id)

    async def delete(self, ctx: Context, old: Applied) -> None:
        with contextlib.suppress(NoSuchGroup):
            ctx.services.logs.delete_group(old.physical_id)  # its events with it, as on AWS

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = str(self.name(ctx, logical_id, p))
        try:
            ctx.services.logs.log_group(name)
        except NoSuchGroup:
            return None
        return await self.update(ctx, p, Applied(logical_id, self.type_name, name, {}, {}))

    def _made(self, ctx: Context, name: str) -> Made:
        arn = f"arn:aws:logs:{ctx.services.region}:{ctx.services.account}:log-group:{name}:*"
        return Made(name, {"Ref": name, "Arn": arn})

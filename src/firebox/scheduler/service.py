"""The Scheduler: schedule groups and schedules, and firing them. Each schedule's next fire
time is stored with it; a tick is recorded (the next time moved on) in the transaction that
stores what it sends, so it fires once across restarts.

Ticks missed while firebox was stopped: the latest one within the schedule's flexible window
(at least AWS's one-minute precision) fires once on start; older ones are skipped and logged,
never fired in a burst.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from firebox.scheduler.errors import conflict, not_found, validation
from firebox.scheduler.records import Group, Schedule
from firebox.scheduler.store import (
    DropGroup,
    DropSchedule,
    PutGroup,
    PutSchedule,
    SqliteScheduleStore,
    Write,
)
from firebox.sending import Send
from firebox.storage.group_commit import BatchCommit
from firebox.storage.sends import AddSends, DropSends
from firebox.timing import expressions
from firebox.timing.ticker import GRACE_S, advance

log = logging.getLogger("firebox.scheduler")
DEFAULT = "default"
PRINCIPAL = "scheduler.amazonaws.com"
_TARGET_ARN = re.compile(r"^arn:aws[a-z-]*:(lambda|sqs|sns|events):[a-z0-9-]+:\d{12}:.+$")


@dataclass(frozen=True)
class Spec:
    """A schedule as CreateSchedule or UpdateSchedule describes it."""

    expression: str
    target: dict[str, Any]
    flexible_window: dict[str, Any]
    timezone: str | None = None
    start: float | None = None
    end: float | None = None
    description: str | None = None
    state: str | None = None
    kms_key_arn: str | None = None
    action_after_completion: str | None = None


class SchedulerService:
    """The Scheduler of one account and region, kept in memory and written through."""

    def __init__(
        self, store: SqliteScheduleStore, region: str, account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.store = store
        self.region = region
        self.account = account
        self.clock = clock
        self._groups: dict[str, Group] = {}
        self._schedules: dict[tuple[str, str], Schedule] = {}  # (group, name) → schedule
        self._commit: BatchCommit[list[Write], None] = BatchCommit(store.apply)
        self._changing = asyncio.Lock()
        self.on_sends: Callable[[], None] = lambda: None
        self.on_schedules: Callable[[], None] = lambda: None

    def load(self) -> None:
        groups, schedules = self.store.load()
        self._groups = {g.name: g for g in groups}
        self._schedules = {(s.group, s.name): s for s in schedules}
        if DEFAULT not in self._groups:  # made once, kept (its creation time stays)
            now = self.clock()
            group = Group(DEFAULT, self._group_arn(DEFAULT), now, now)
            self.store.apply([[PutGroup(group)]])
            self._groups[DEFAULT] = group

    async def _write(self, *writes: Write) -> None:
        await self._commit.submit(list(writes))

    # ----- groups ---------------------------------------------------------------------------
    def _group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule-group/{name}"

    def group(self, name: str | None) -> Group:
        found = self._groups.get(name or DEFAULT)
        if found is None:
            raise not_found(f"Schedule group {name} does not exist.")
        return found

    def groups(self, prefix: str = "") -> builtins.list[Group]:
        return [g for n, g in sorted(self._groups.items()) if n.startswith(prefix)]

    async def create_group(self, name: str, tags: dict[str, str]) -> Group:
        async with self._changing:
            if name in self._groups:
                raise conflict(f"Schedule group {name} already exists.")
            now = self.clock()
            group = Group(name, self._group_arn(name), now, now, tags=dict(tags))
            await self._write(PutGroup(group))
            self._groups[name] = group
            return group

    async def delete_group(self, name: str) -> None:
        async with self._changing:
            if name == DEFAULT:
                raise validation("The default schedule group cannot be deleted.")
            self.group(name)
            await self._write(DropGroup(name))
            del self._groups[name]
            for key in [k for k in self._schedules if k[0] == name]:
                del self._schedules[key]
            self.on_schedules()

    async def tag(self, arn: str, tags: dict[str, str], remove: builtins.list[str]) -> None:
        async with self._changing:
            group = self._group_by_arn(arn)
            kept = {k: v for k, v in {**group.tags, **tags}.items() if k not in remove}
            group = replace(group, tags=kept)
            await self._write(PutGroup(group))
            self._groups[group.name] = group

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._group_by_arn(arn).tags)

    def _group_by_arn(self, arn: str) -> Group:
        name = arn.rpartition("schedule-group/")[2] if "schedule-group/" in arn else None
        group = self._groups.get(name) if name else None
        if group is None or group.arn != arn:
            raise not_found(f"Resource {arn[:256]} does not exist.")
        return group

    # ----- schedules ------------------------------------------------------------------------
    def _arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"

    def schedule(self, name: str, group: str | None) -> Schedule:
        found = self._schedules.get((group or DEFAULT, name))
        if found is None:
            raise not_found(f"Schedule {name} does not exist.")
        return found

    def schedules(
        self, group: str | None, prefix: str = "", state: str | None = None
    ) -> builtins.list[Schedule]:
        return sorted(
            (s for s in self._schedules.values()
             if (group is None or s.group == group) and s.name.startswith(prefix)
             and (state is None or s.state == state)),
            key=lambda s: (s.group, s.name),
        )  # fmt: skip

    async def create(self, name: str, group: str | None, spec: Spec) -> Schedule:
        async with self._changing:
            group_name = self.group(group).name
            if (group_name, name) in self._schedules:
                raise conflict(f"Schedule {name} already exists.")
            now = self.clock()
            schedule = self._build(name, group_name, spec, now, now)
            await self._write(PutSchedule(schedule))
            self._schedules[(group_name, name)] = schedule
            self.on_schedules()
            return schedule

    async def update(self, name: str, group: str | None, spec: Spec) -> Schedule:
        """Replaces a schedule's whole description, as UpdateSchedule does."""
        async with self._changing:
            current = self.schedule(name, group)
            schedule = self._build(name, current.group, spec, current.created, self.clock(),
                                   current)  # fmt: skip
            await self._write(PutSchedule(schedule))
            self._schedules[(current.group, name)] = schedule
            self.on_schedules()
            return schedule

    async def delete(self, name: str, group: str | None) -> None:
        async with self._changing:
            schedule = self.schedule(name, group)
            await self._write(DropSchedule(schedule.arn))
            del self._schedules[(schedule.group, name)]
            self.on_schedules()

    def _build(
        self, name: str, group: str, spec: Spec, created: float, now: float,
        current: Schedule | None = None,
    ) -> Schedule:  # fmt: skip
        """A checked schedule with its first fire time (an update that leaves its timing as
        it was keeps its ticks: no fire at once, no tick fired twice)."""
        try:
            expressions.zone(spec.timezone)
        except expressions.ExpressionError:
            raise validation(f"Invalid time zone {spec.timezone}.") from None
        try:
            expressions.parse(spec.expression, allow_at=True)
        except expressions.ExpressionError:
            raise validation(f"Invalid Schedule Expression {spec.expression}.") from None
        window = spec.flexible_window
        if window.get("Mode") == "FLEXIBLE":
            minutes = window.get("MaximumWindowInMinutes")
            if not minutes:
                raise validation("MaximumWindowInMinutes is required when Mode is FLEXIBLE.")
            window_s = int(minutes) * 60
        else:
            if window.get("MaximumWindowInMinutes") is not None:
                raise validation("MaximumWindowInMinutes is only allowed when Mode is FLEXIBLE.")
            window_s = 0
        if spec.start is not None and spec.end is not None and spec.end <= spec.start:
            raise validation("The EndDate must be after the StartDate.")
        arn = str(spec.target.get("Arn", ""))
        if not _TARGET_ARN.match(arn):
            raise validation(
                f"Invalid target ARN {arn[:200]}: firebox's Scheduler invokes Lambda functions "
                "and sends to SQS queues, SNS topics and event buses."
            )
        fifo = arn.split(":")[2] == "sqs" and arn.endswith(".fifo")
        if fifo and not (spec.target.get("SqsParameters") or {}).get("MessageGroupId"):
            raise validation("MessageGroupId is required for a FIFO queue target.")
        schedule = Schedule(
            name, group, self._arn(group, name), spec.expression, dict(spec.target), created,
            now, window_s, spec.timezone, spec.start, spec.end, spec.description,
            spec.state or "ENABLED", spec.kms_key_arn, spec.action_after_completion or "NONE",
            anchor=now,
        )  # fmt: skip
        timing = ("expression", "timezone", "start", "end", "state")
        if current is not None and all(getattr(current, f) == getattr(schedule, f) for f in timing):
            return replace(schedule, next_at=current.next_at, anchor=current.anchor)
        first = self._first(schedule, now)
        expression = expressions.parse(spec.expression, allow_at=True)
        grace = max(GRACE_S, float(window_s))
        if isinstance(expression, expressions.At) and first is not None and first < now - grace:
            raise validation(f"The time of {spec.expression} is in the past.")
        never = first is None and schedule.end is None and schedule.state == "ENABLED"
        if isinstance(expression, expressions.Cron) and never:
            raise validation(f"Invalid Schedule Expression {spec.expression}: it never "
                                 "fires.")  # fmt: skip
        return replace(schedule, next_at=first)

    def _first(self, schedule: Schedule, now: float) -> float | None:
        """The first tick of a new or updated schedule."""
        if schedule.state != "ENABLED":
            return None
        expression = expressions.parse(schedule.expression, allow_at=True)
        if isinstance(expression, expressions.At):
            return expression.instant(expressions.zone(schedule.timezone))
        if isinstance(expression, expressions.Rate):  # from StartDate, or at once
            anchor = schedule.start if schedule.start is not None else now
            return self._bounded(schedule, expression.next_after(now - 0.001, anchor))
        return self._next(schedule, now)

    def _next(self, schedule: Schedule, after: float) -> float | None:
        """The tick after `after` (none past EndDate; a one-time schedule has one tick)."""
        expression = expressions.parse(schedule.expression, allow_at=True)
        if isinstance(expression, expressions.At) or schedule.state != "ENABLED":
            return None
        if isinstance(expression, expressions.Rate):
            anchor = schedule.start if schedule.start is not None else schedule.anchor
            return self._bounded(schedule, expression.next_after(after, anchor or schedule.created))
        start = schedule.start if schedule.start is not None else after
        found = expression.next_after(max(after, start - 0.001),
                                      expressions.zone(schedule.timezone))  # fmt: skip
        return self._bounded(schedule, found)

    @staticmethod
    def _bounded(schedule: Schedule, tick: float | None) -> float | None:
        if tick is None or (schedule.end is not None and tick > schedule.end):
            return None
        return tick

    # ----- the outbox -----------------------------------------------------------------------
    def pending(self) -> builtins.list[Send]:
        return self.store.pending(100)

    async def delivered(self, ids: builtins.list[int]) -> None:
        await self._write(DropSends(tuple(ids)))

    # ----- firing ---------------------------------------------------------------------------
    async def fire_due(self, now: float) -> float | None:
        """Fires every schedule due at `now`; returns when the next one is due."""
        async with self._changing:
            writes: builtins.list[Write] = []
            sends: builtins.list[Send] = []
            updated: dict[tuple[str, str], Schedule | None] = {}  # None: deleted
            for key, schedule in self._schedules.items():
                if schedule.next_at is None or schedule.next_at > now:
                    continue
                grace = max(GRACE_S, float(schedule.flexible_window_s))
                tick, following = advance(schedule.next_at, now, grace,
                                          functools.partial(self._next, schedule))  # fmt: skip
                if tick is None:
                    log.warning("schedule %s: its tick due at %s was missed while firebox was "
                                "stopped, by more than its window: skipped", schedule.arn,
                                expressions.stamp(schedule.next_at))  # fmt: skip
                else:
                    sends.append(self._send(schedule, tick))
                if following is None and schedule.action_after_completion == "DELETE":
                    writes.append(DropSchedule(schedule.arn))
                    updated[key] = None
                else:
                    kept = replace(schedule, next_at=following)
                    updated[key] = kept
                    writes.append(PutSchedule(kept))
            if writes:  # every due tick and what it sends: one commit, then memory
                await self._write(*writes, *([AddSends(tuple(sends))] if sends else []))
                for key, value in updated.items():
                    if value is None:
                        del self._schedules[key]
                    else:
                        self._schedules[key] = value
            if sends:
                self.on_sends()
            due = [s.next_at for s in self._schedules.values() if s.next_at is not None]
            return min(due) if due else None

    def _send(self, schedule: Schedule, tick: float) -> Send:
        """What one tick sends its target (the Input, with context attributes filled in)."""
        target = schedule.target
        execution = str(uuid.uuid4())
        text = str(target.get("Input") or "{}")
        for key, value in (("schedule-arn", schedule.arn),
                           ("scheduled-time", expressions.stamp(tick)),
                           ("execution-id", execution), ("attempt-number", "1")):  # fmt: skip
            text = text.replace(f"<aws.scheduler.{key}>", value)
        arn = str(target["Arn"])
        if arn.split(":")[2] == "events":
            params = target.get("EventBridgeParameters") or {}
            text = json.dumps({"Source": params.get("Source", "aws.scheduler"),
                               "DetailType": params.get("DetailType", "Scheduled Event"),
                               "Detail": text, "Resources": [schedule.arn]})  # fmt: skip
        return Send(
            arn, text, "", schedule.arn,
            group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
            dedup_id=execution, dead_letter=(target.get("DeadLetterConfig") or {}).get("Arn"),
            attributes={"SCHEDULE_ARN": schedule.arn, "EXECUTION_ID": execution,
                        "ERROR_CODE": "TargetGone"},
        )  # fmt: skip

    def close(self) -> None:
        self.store.close()

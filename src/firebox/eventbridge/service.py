"""The EventBridge service: buses, rules and targets; PutEvents matching each event against
the bus's rules; scheduled rules fired by the ticker. What a rule sends is stored as sends
(sending.py) in the transaction that accepts the event or records the tick, so an accepted
event or a recorded tick is delivered even across a crash, and a tick is fired once."""

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
from dataclasses import dataclass, field, replace
from typing import Any

from firebox import filtering
from firebox.eventbridge import transform
from firebox.eventbridge.errors import EventsError, bad_pattern, not_found, validation
from firebox.eventbridge.records import Bus, Rule, Target
from firebox.eventbridge.store import (
    DropBus,
    DropRule,
    PutBus,
    PutRule,
    SqliteEventStore,
    Write,
)
from firebox.sending import Send
from firebox.storage.group_commit import BatchCommit
from firebox.storage.sends import AddSends, DropSends
from firebox.timing import expressions
from firebox.timing.ticker import GRACE_S, advance

log = logging.getLogger("firebox.events")
DEFAULT = "default"
PRINCIPAL = "events.amazonaws.com"
MAX_TARGETS = 5
MAX_ENTRIES_BYTES = 256 * 1024
_BUS_NAME = re.compile(r"^[/\.\-_A-Za-z0-9]{1,256}$")
_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/(.+)$")
_TARGET_ARN = re.compile(r"^arn:aws[a-z-]*:(lambda|sqs|sns|events):[a-z0-9-]+:\d{12}:.+$")
EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


@dataclass(frozen=True)
class Entry:
    """One PutEvents entry."""

    source: str | None
    detail_type: str | None
    detail: str | None
    resources: tuple[str, ...] = ()
    time: float | None = None
    bus: str | None = None


@dataclass(frozen=True)
class Accepted:
    event_id: str


@dataclass(frozen=True)
class Refused:
    code: str
    message: str


@dataclass(frozen=True)
class TargetFailure:
    target_id: str
    code: str
    message: str


@dataclass
class _Batch:
    """The sends one PutEvents call stores."""

    sends: list[Send] = field(default_factory=list)


class EventService:
    """EventBridge of one account and region, kept in memory and written through."""

    def __init__(
        self, store: SqliteEventStore, region: str, account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.store = store
        self.region = region
        self.account = account
        self.clock = clock
        self._buses: dict[str, Bus] = {}
        self._rules: dict[str, Rule] = {}  # by ARN
        self._commit: BatchCommit[list[Write], None] = BatchCommit(store.apply)
        # Changes to buses and rules, one at a time (each reads, checks, writes, updates).
        self._changing = asyncio.Lock()
        self.on_sends: Callable[[], None] = lambda: None  # the forwarder's wake
        self.on_schedules: Callable[[], None] = lambda: None  # the ticker's wake

    def load(self) -> None:
        buses, rules = self.store.load()
        self._buses = {b.name: b for b in buses}
        self._rules = {r.arn: r for r in rules}
        if DEFAULT not in self._buses:  # made once, kept (its creation time stays)
            bus = Bus(DEFAULT, self.bus_arn(DEFAULT), self.clock())
            self.store.apply([[PutBus(bus)]])
            self._buses[DEFAULT] = bus

    async def _write(self, *writes: Write) -> None:
        await self._commit.submit(list(writes))

    # ----- buses ----------------------------------------------------------------------------
    def bus_arn(self, name: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{name}"

    def bus(self, name_or_arn: str | None) -> Bus:
        name = self._bus_name(name_or_arn)
        found = self._buses.get(name)
        if found is None:
            raise not_found(f"Event bus {name} does not exist.")
        return found

    @staticmethod
    def _bus_name(name_or_arn: str | None) -> str:
        if not name_or_arn:
            return DEFAULT
        match = _BUS_ARN.match(name_or_arn)
        return match[1] if match else name_or_arn

    def buses(self, prefix: str = "") -> builtins.list[Bus]:
        return [b for n, b in sorted(self._buses.items()) if n.startswith(prefix)]

    async def create_bus(self, name: str, description: str, tags: dict[str, str]) -> Bus:
        async with self._changing:
            if not _BUS_NAME.match(name) or name.startswith("aws.") or "/" in name:
                raise validation(f"Event bus name {name[:256]} is not valid.")
            if name in self._buses:
                raise EventsError("ResourceAlreadyExistsException",
                                  f"Event bus {name} already exists.")  # fmt: skip
            bus = Bus(name, self.bus_arn(name), self.clock(), description, dict(tags))
            await self._write(PutBus(bus))
            self._buses[name] = bus
            return bus

    async def delete_bus(self, name: str) -> None:
        async with self._changing:
            if name == DEFAULT:
                raise validation("Cannot delete event bus default.")
            if name not in self._buses:
                return  # as on AWS: deleting what is not there succeeds
            await self._write(DropBus(name))
            del self._buses[name]
            for arn in [a for a, r in self._rules.items() if r.bus == name]:
                del self._rules[arn]

    # ----- rules ----------------------------------------------------------------------------
    def rule_arn(self, bus: str, name: str) -> str:
        path = name if bus == DEFAULT else f"{bus}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    def rule(self, name: str, bus: str | None) -> Rule:
        bus_name = self.bus(bus).name
        found = self._rules.get(self.rule_arn(bus_name, name))
        if found is None:
            raise not_found(f"Rule {name} does not exist on EventBus {bus_name}.")
        return found

    def rules(self, bus: str | None, prefix: str = "") -> builtins.list[Rule]:
        bus_name = self.bus(bus).name
        return sorted((r for r in self._rules.values()
                       if r.bus == bus_name and r.name.startswith(prefix)),
                      key=lambda r: r.name)  # fmt: skip

    def rules_by_target(self, target_arn: str, bus: str | None) -> builtins.list[str]:
        return [r.name for r in self.rules(bus) if any(t.arn == target_arn for t in r.targets)]

    async def put_rule(
        self, name: str, bus: str | None, pattern: str | None, schedule: str | None,
        state: str | None, description: str | None, role_arn: str | None, tags: dict[str, str],
    ) -> Rule:  # fmt: skip
        """Creates or updates a rule (an update keeps its targets)."""
        async with self._changing:
            bus_name = self.bus(bus).name
            if not pattern and not schedule:
                raise validation(
                    "Parameter(s) EventPattern or ScheduleExpression must be specified."
                )
            if schedule is not None:
                if bus_name != DEFAULT:
                    raise validation(
                        "ScheduleExpression is supported only on the default event bus."
                    )
                try:
                    expressions.parse(schedule)
                except expressions.ExpressionError:
                    raise validation("Parameter ScheduleExpression is not valid.") from None
            if pattern is not None:
                check_pattern(pattern)
            arn = self.rule_arn(bus_name, name)
            now = self.clock()
            existing = self._rules.get(arn)
            # As on AWS, an update replaces what it describes (an omitted State is ENABLED, an
            # omitted Description none); the targets and tags stay.
            rule = Rule(
                name, bus_name, arn, now, event_pattern=pattern, schedule=schedule,
                state=state or "ENABLED", description=description or "", role_arn=role_arn,
                targets=existing.targets if existing else (),
                tags=existing.tags if existing else dict(tags),
            )  # fmt: skip
            if existing is not None and existing.schedule == schedule:
                rule = replace(rule, created=existing.created)  # the same rate, same ticks
            rule = replace(rule, next_at=self._next(rule, now))
            if rule.schedule and rule.enabled and rule.next_at is None:
                raise validation("Parameter ScheduleExpression is not valid.")
            await self._write(PutRule(rule))
            self._rules[arn] = rule
            self.on_schedules()
            return rule

    def _next(self, rule: Rule, after: float) -> float | None:
        if not rule.schedule or not rule.enabled:
            return None
        expression = expressions.parse(rule.schedule)
        if isinstance(expression, expressions.Rate):
            return expression.next_after(after, rule.created + expression.period_s)
        if isinstance(expression, expressions.Cron):
            return expression.next_after(after, expressions.UTC)
        return None

    async def set_state(self, name: str, bus: str | None, state: str) -> None:
        async with self._changing:
            rule = self.rule(name, bus)
            rule = replace(rule, state=state)
            rule = replace(rule, next_at=self._next(rule, self.clock()))
            await self._write(PutRule(rule))
            self._rules[rule.arn] = rule
            self.on_schedules()

    async def delete_rule(self, name: str, bus: str | None, force: bool) -> None:
        async with self._changing:
            try:
                rule = self.rule(name, bus)
            except EventsError:
                return  # as on AWS: deleting what is not there succeeds
            if rule.targets and not force:
                raise validation("Rule can't be deleted since it has targets.")
            await self._write(DropRule(rule.arn))
            del self._rules[rule.arn]
            self.on_schedules()

    async def tag(self, arn: str, tags: dict[str, str], remove: builtins.list[str]) -> None:
        """Adds tags to (or removes them from) a bus or rule named by its ARN."""
        async with self._changing:
            rule = self._rules.get(arn)
            if rule is not None:
                kept = {k: v for k, v in {**rule.tags, **tags}.items() if k not in remove}
                rule = replace(rule, tags=kept)
                await self._write(PutRule(rule))
                self._rules[arn] = rule
                return
            bus = self._bus_by_arn(arn)
            kept = {k: v for k, v in {**bus.tags, **tags}.items() if k not in remove}
            bus = replace(bus, tags=kept)
            await self._write(PutBus(bus))
            self._buses[bus.name] = bus

    def tags(self, arn: str) -> dict[str, str]:
        rule = self._rules.get(arn)
        return dict(rule.tags) if rule is not None else dict(self._bus_by_arn(arn).tags)

    def _bus_by_arn(self, arn: str) -> Bus:
        match = _BUS_ARN.match(arn)
        bus = self._buses.get(match[1]) if match else None
        if bus is None:
            raise not_found(f"Resource {arn[:256]} does not exist.")
        return bus

    # ----- targets --------------------------------------------------------------------------
    async def put_targets(
        self, name: str, bus: str | None, targets: builtins.list[Target]
    ) -> builtins.list[TargetFailure]:
        """Adds or replaces targets by id; each may fail on its own."""
        async with self._changing:
            rule = self.rule(name, bus)
            current = {t.id: t for t in rule.targets}
            failures = []
            for target in targets:
                problem = _target_problem(target)
                if problem is None and target.id not in current and len(current) >= MAX_TARGETS:
                    problem = ("LimitExceededException",
                               f"The requested resource exceeds the maximum number allowed "
                               f"({MAX_TARGETS} targets per rule).")  # fmt: skip
                if problem is not None:
                    failures.append(TargetFailure(target.id, *problem))
                    continue
                current[target.id] = target
            rule = replace(rule, targets=tuple(current.values()))
            await self._write(PutRule(rule))
            self._rules[rule.arn] = rule
            return failures

    async def remove_targets(
        self, name: str, bus: str | None, ids: builtins.list[str]
    ) -> builtins.list[TargetFailure]:
        async with self._changing:
            rule = self.rule(name, bus)
            known = {t.id for t in rule.targets}
            failures = [TargetFailure(i, "ResourceNotFoundException",
                                      f"Target {i} does not exist on rule {name}.")
                        for i in ids if i not in known]  # fmt: skip
            rule = replace(rule, targets=tuple(t for t in rule.targets if t.id not in ids))
            await self._write(PutRule(rule))
            self._rules[rule.arn] = rule
            return failures

    # ----- events ---------------------------------------------------------------------------
    async def put_events(
        self, entries: builtins.list[Entry], trusted: bool = False
    ) -> builtins.list[Accepted | Refused]:
        """Each entry matched against its bus's rules; what they send is on disk on return.
        `trusted`: firebox's own entries (a scheduled rule's event sent on), which may carry
        an `aws.` source."""
        if sum(_entry_size(e) for e in entries) > MAX_ENTRIES_BYTES:
            raise validation("Total size of the entries in the request is over the limit.")
        results: list[Accepted | Refused] = []
        batch = _Batch()
        now = self.clock()
        for entry in entries:
            outcome = self._accept(entry, now, batch, trusted)
            results.append(outcome)
        if batch.sends:
            await self._write(AddSends(tuple(batch.sends)))
            self.on_sends()
        return results

    async def put_entry(self, bus_arn: str, entry: dict[str, Any]) -> None:
        """One entry sent to a bus by a target or destination (sending.Bus)."""
        (result,) = await self.put_events([Entry(
            entry.get("Source"), entry.get("DetailType"), entry.get("Detail"),
            tuple(entry.get("Resources") or ()), None, bus_arn,
        )], trusted=True)  # fmt: skip
        if isinstance(result, Refused):
            raise EventsError(result.code, result.message)

    def _accept(self, entry: Entry, now: float, batch: _Batch, trusted: bool) -> Accepted | Refused:
        for member, value in (("Source", entry.source), ("DetailType", entry.detail_type),
                              ("Detail", entry.detail)):  # fmt: skip
            if not value:
                return Refused("InvalidArgument", f"Parameter {member} is not valid. Reason: "
                                                  f"{member} is a required argument.")  # fmt: skip
        assert entry.detail is not None and entry.source is not None
        try:
            detail = loads(entry.detail)
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            return Refused("MalformedDetail", "Detail is malformed.")
        if entry.source.startswith("aws.") and not trusted:
            return Refused("NotAuthorizedForSourceException", "Not authorized for the source.")
        at = now
        if entry.time is not None:
            try:
                at = expressions.instant(entry.time)
            except expressions.ExpressionError:
                return Refused("InvalidArgument", "Parameter Time is not valid.")
        try:
            bus = self.bus(entry.bus)
        except EventsError as exc:
            return Refused(exc.error_type, exc.message)
        event = self.event(entry.source, str(entry.detail_type), detail,
                           list(entry.resources), at)  # fmt: skip
        self._match(bus.name, event, now, batch)
        return Accepted(event["id"])

    def event(
        self, source: str, detail_type: str, detail: dict[str, Any], resources: builtins.list[str],
        at: float,
    ) -> dict[str, Any]:  # fmt: skip
        """An event as EventBridge shapes it."""
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type,
            "source": source, "account": self.account, "time": expressions.stamp(at),
            "region": self.region, "resources": resources, "detail": detail,
        }  # fmt: skip

    def _match(self, bus: str, event: dict[str, Any], now: float, batch: _Batch) -> None:
        for rule in self._rules.values():
            if rule.bus != bus or not rule.enabled or not rule.event_pattern:
                continue
            if filtering.matches(_pattern(rule.event_pattern), event):
                batch.sends.extend(self._sends(rule, event, now))

    def _sends(self, rule: Rule, event: dict[str, Any], now: float) -> builtins.list[Send]:
        context = transform.Context(rule.arn, rule.name, int(now * 1000))
        out = []
        for target in rule.targets:
            body = transform.render(event, context, target.input, target.input_path,
                                    target.input_transformer)  # fmt: skip
            if target.arn.split(":")[2] == "events":  # another bus: the event goes on as one
                body = json.dumps({"Source": event["source"], "DetailType": event["detail-type"],
                                   "Detail": json.dumps(event["detail"]),
                                   "Resources": event["resources"]})  # fmt: skip
            out.append(Send(
                target.arn, body, PRINCIPAL, rule.arn, group_id=target.message_group_id,
                dedup_id=event["id"], dead_letter=target.dead_letter_arn,
                attributes={"RULE_ARN": rule.arn, "ERROR_CODE": "TargetGone"},
            ))  # fmt: skip
        return out

    def test_pattern(self, pattern: str, event_text: str) -> bool:
        """TestEventPattern: whether the event matches."""
        parsed = check_pattern(pattern)
        try:
            event = loads(event_text)
        except ValueError:
            raise validation("Parameter Event is not valid.") from None
        if not isinstance(event, dict) or any(f not in event for f in EVENT_FIELDS):
            raise validation("Parameter Event is not valid.")
        return filtering.matches(parsed, event)

    # ----- the outbox -----------------------------------------------------------------------
    def pending(self) -> builtins.list[Send]:
        return self.store.pending(100)

    async def delivered(self, ids: builtins.list[int]) -> None:
        await self._write(DropSends(tuple(ids)))

    # ----- scheduled rules ------------------------------------------------------------------
    async def fire_due(self, now: float) -> float | None:
        """Fires every scheduled rule due at `now` (each tick recorded with what it sends, in
        one transaction: fired once); returns when the next one is due."""
        async with self._changing:
            writes: builtins.list[Write] = []
            updated: builtins.list[Rule] = []
            sends: builtins.list[Send] = []
            for rule in self._rules.values():
                if rule.next_at is None or rule.next_at > now:
                    continue
                tick, following = advance(rule.next_at, now, GRACE_S,
                                          functools.partial(self._next, rule))  # fmt: skip
                if tick is None:
                    log.warning("rule %s: ticks missed while firebox was stopped (the first "
                                "due at %s) are skipped", rule.arn,
                                expressions.stamp(rule.next_at))  # fmt: skip
                else:
                    event = self.event("aws.events", "Scheduled Event", {}, [rule.arn], tick)
                    sends.extend(self._sends(rule, event, now))
                updated.append(replace(rule, next_at=following))
                writes.append(PutRule(updated[-1]))
            if writes:  # every due tick and what it sends: one commit, then memory
                await self._write(*writes, *([AddSends(tuple(sends))] if sends else []))
                self._rules.update((r.arn, r) for r in updated)
            if sends:
                self.on_sends()
            due = [r.next_at for r in self._rules.values() if r.next_at is not None]
            return min(due) if due else None

    def close(self) -> None:
        self.store.close()


def check_pattern(text: str) -> dict[str, Any]:
    """An event pattern's JSON, checked; InvalidEventPatternException says what is wrong."""
    try:
        pattern = loads(text)
    except ValueError as exc:
        raise bad_pattern(f"Filter is not valid JSON: {exc}") from None
    try:
        return filtering.check(pattern)
    except filtering.PatternError as exc:
        raise bad_pattern(str(exc)) from None
    except RecursionError:
        raise bad_pattern("Filter is nested too deeply") from None


@functools.lru_cache(maxsize=4096)
def _pattern(text: str) -> dict[str, Any]:
    """A stored rule's pattern, parsed once (not for every event it is matched against)."""
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def loads(text: str) -> Any:
    """JSON text parsed; ValueError for any that is not (nested too deeply included)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _target_problem(target: Target) -> tuple[str, str] | None:
    if not _TARGET_ARN.match(target.arn):
        return ("ValidationException",
                f"Target {target.id}: firebox sends to Lambda functions, SQS queues, SNS topics "
                f"and event buses; {target.arn[:200]} is none of them.")  # fmt: skip
    forms = (target.input, target.input_path, target.input_transformer)
    given = [x for x in forms if x is not None]
    if len(given) > 1:
        return ("ValidationException",
                f"Only one of Input, InputPath, or InputTransformer must be provided for target "
                f"{target.id}.")  # fmt: skip
    fifo = target.arn.split(":")[2] == "sqs" and target.arn.endswith(".fifo")
    if fifo and not target.message_group_id:
        return ("ValidationException",
                    f"Target {target.id}: a FIFO queue target needs SqsParameters "
                    "MessageGroupId.")  # fmt: skip
    try:
        if target.input is not None:
            loads(target.input)
        if target.input_path is not None:
            transform.check_path(target.input_path, "InputPath")
        if target.input_transformer is not None:
            transform.check_transformer(target.input_transformer)
    except ValueError:
        return ("ValidationException", f"Input for target {target.id} is not valid JSON.")
    except EventsError as exc:
        return (exc.error_type, exc.message)
    return None


def _entry_size(entry: Entry) -> int:
    """An entry's size as AWS counts it."""
    size = 14 if entry.time is not None else 0
    for text in (entry.source, entry.detail_type, entry.detail, *entry.resources):
        size += len((text or "").encode())
    return size

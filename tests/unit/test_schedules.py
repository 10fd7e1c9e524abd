"""Schedules under an injected clock: expressions (rate, AWS cron, at, time zones across
daylight-saving changes), EventBridge's scheduled rules and the Scheduler's schedules firing
on time, once, and catching up after a stop by the documented policy. The services run on
their real SQLite stores; what a tick sends is read from their outboxes. No test sleeps."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firebox.eventbridge.errors import EventsError
from firebox.eventbridge.records import Target
from firebox.eventbridge.service import EventService
from firebox.eventbridge.store import SqliteEventStore
from firebox.scheduler.errors import SchedulerError
from firebox.scheduler.service import SchedulerService, Spec
from firebox.scheduler.store import SqliteScheduleStore
from firebox.storage.group_commit import BatchCommit
from firebox.timing import expressions
from firebox.timing.expressions import UTC, ExpressionError, parse
from firebox.timing.ticker import GRACE_S, catch_up

QUEUE = "arn:aws:sqs:us-east-1:000000000000:ticks"
NY = "America/New_York"


def at(*fields: int, zone: str | None = None) -> float:
    tz = expressions.zone(zone)
    return datetime.datetime(*fields, tzinfo=tz).timestamp()  # type: ignore[misc]


def local(instant: float, zone: str) -> str:
    return datetime.datetime.fromtimestamp(instant, expressions.zone(zone)).strftime(
        "%Y-%m-%d %H:%M"
    )


class Clock:
    """Time as the test says it is."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ----- expressions ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(1 second)",
    "cron(0 10 * * * *)", "cron(0 10 ? * 8 *)", "cron(60 10 * * ? *)", "cron(0 10 * *)",
    "cron(0 10 32 * ? *)", "every 5 minutes", "at(2026-12-07T10:00:00)",
])  # fmt: skip
def test_expressions_aws_refuses(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse(text)  # at() is the Scheduler's alone


def test_cron_reads_aws_fields() -> None:
    # 10:15 on the last Friday of each month (6L: day-of-week 6 = FRI, as AWS numbers them)
    cron = parse("cron(15 10 ? * 6L *)")
    assert isinstance(cron, expressions.Cron)
    first = cron.next_after(at(2026, 12, 1), UTC)
    assert first == at(2026, 12, 25, 10, 15)
    # the nearest weekday to the 15th (W): 2026-08-15 is a Saturday
    weekday = parse("cron(0 9 15W * ? *)")
    assert isinstance(weekday, expressions.Cron)
    assert weekday.next_after(at(2026, 8, 1), UTC) == at(2026, 8, 14, 9)
    second_monday = parse("cron(0 12 ? * 2#2 *)")
    assert isinstance(second_monday, expressions.Cron)
    assert second_monday.next_after(at(2026, 12, 1), UTC) == at(2026, 12, 14, 12)


def test_cron_across_daylight_saving_changes() -> None:
    zone = expressions.zone(NY)
    daily = parse("cron(30 2 * * ? *)")
    assert isinstance(daily, expressions.Cron)
    # 2026-03-08 02:30 does not exist in New York: that day has no run (AWS skips it)
    first = daily.next_after(at(2026, 3, 7, 12, zone=NY), zone)
    assert first is not None and local(first, NY) == "2026-03-09 02:30"
    # 2026-11-01 01:30 happens twice: it runs once
    early = parse("cron(30 1 * * ? *)")
    assert isinstance(early, expressions.Cron)
    once = early.next_after(at(2026, 10, 31, 12, zone=NY), zone)
    assert once is not None and local(once, NY) == "2026-11-01 01:30"
    after = early.next_after(once, zone)
    assert after is not None and local(after, NY) == "2026-11-02 01:30"
    assert after - once == 25 * 3600  # the repeated hour was not run again


def test_rate_counts_from_its_anchor() -> None:
    rate = parse("rate(5 minutes)")
    assert isinstance(rate, expressions.Rate)
    assert rate.next_after(99.0, 100.0) == 100.0
    assert rate.next_after(100.0, 100.0) == 400.0
    assert rate.next_after(1000.0, 100.0) == 1300.0


def test_catch_up_fires_the_latest_tick_once() -> None:
    def every_minute(after: float) -> float:
        return (after // 60 + 1) * 60

    assert catch_up(600.0, 630.0, GRACE_S, every_minute) == 600.0  # late within the grace
    # down for an hour: the tick within the last minute fires, the others never
    assert catch_up(600.0, 4230.0, GRACE_S, every_minute) == 4200.0
    # a daily schedule down past its tick by more than the grace: skipped
    assert catch_up(600.0, 600.0 + 3600, GRACE_S, lambda a: 600.0 + 86400) is None


# ----- EventBridge scheduled rules ------------------------------------------------------------
@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def events_service(path: Path, clock: Clock) -> EventService:
    service = EventService(SqliteEventStore(path / "events.sqlite3"), "us-east-1",
                           "000000000000", clock)  # fmt: skip
    service.load()
    return service


def bodies(sends: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(s.body) for s in sends]


def test_rate_rule_fires_each_minute_with_the_scheduled_event(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 12, 0, 10))
    service = events_service(tmp_path, clock)
    run = loop.run_until_complete
    rule = run(service.put_rule("tick", None, None, "rate(1 minute)", None, None, None, {}))
    run(service.put_targets("tick", None, [Target("q", QUEUE)]))
    assert rule.next_at == clock.now + 60
    assert run(service.fire_due(clock.now)) == clock.now + 60  # nothing due yet
    assert service.pending() == []
    fired: list[dict[str, Any]] = []
    for minute in range(1, 4):
        clock.now = at(2026, 12, 7, 12, minute, 10)
        run(service.fire_due(clock.now))
        fired = bodies(service.pending())
        assert len(fired) == minute  # one per tick, never more
    assert [e["time"] for e in fired] == [
        "2026-12-07T12:01:10Z", "2026-12-07T12:02:10Z", "2026-12-07T12:03:10Z",
    ]  # fmt: skip
    event = fired[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [rule.arn] and event["detail"] == {}
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time",
                          "region", "resources", "detail"}  # fmt: skip
    # a restart (a new service on the same store) does not fire a recorded tick again
    service.close()
    again = events_service(tmp_path, clock)
    run(again.fire_due(clock.now))
    assert len(again.pending()) == 3
    # down for an hour: one catch-up fire at most, then on schedule
    clock.now = at(2026, 12, 7, 13, 3, 30)
    run(again.fire_due(clock.now))
    late = bodies(again.pending())[3:]
    assert [e["time"] for e in late] == ["2026-12-07T13:03:10Z"]
    again.close()


def test_cron_rule_and_disabled_rule(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock(at(2026, 12, 7, 9, 0))
    service = events_service(tmp_path, clock)
    run = loop.run_until_complete
    run(service.put_rule("weekday", None, None, "cron(0 10 ? * MON-FRI *)", None, None, None, {}))
    run(service.put_targets("weekday", None, [Target("q", QUEUE, input='{"fixed": 1}')]))
    assert service.rule("weekday", None).next_at == at(2026, 12, 7, 10)
    clock.now = at(2026, 12, 7, 10, 0, 1)
    run(service.fire_due(clock.now))
    assert bodies(service.pending()) == [{"fixed": 1}]
    assert service.rule("weekday", None).next_at == at(2026, 12, 8, 10)  # Tuesday
    run(service.set_state("weekday", None, "DISABLED"))
    assert service.rule("weekday", None).next_at is None
    clock.now = at(2026, 12, 8, 10)
    run(service.fire_due(clock.now))
    assert len(service.pending()) == 1
    with pytest.raises(EventsError) as refused:
        run(service.put_rule("x", None, None, "rate(1 minutes)", None, None, None, {}))
    assert refused.value.error_type == "ValidationException"
    service.close()


# ----- the Scheduler -------------------------------------------------------------------------
def scheduler(path: Path, clock: Clock) -> SchedulerService:
    service = SchedulerService(SqliteScheduleStore(path / "scheduler.sqlite3"), "us-east-1",
                               "000000000000", clock)  # fmt: skip
    service.load()
    return service


def spec(expression: str, **kw: Any) -> Spec:
    target = {"Arn": QUEUE, "RoleArn": "arn:aws:iam::000000000000:role/s",
              "Input": '{"at": "<aws.scheduler.scheduled-time>"}'}  # fmt: skip
    window = kw.pop("window", {"Mode": "OFF"})
    return Spec(expression, target, window, **kw)


def test_cron_schedule_in_a_time_zone_across_spring_forward(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 3, 6, 12, zone=NY))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    run(service.create("daily", None, spec("cron(30 2 * * ? *)", timezone=NY)))
    times = []
    for _ in range(3):
        due = service.schedule("daily", None).next_at
        assert due is not None
        clock.now = due
        run(service.fire_due(clock.now))
        times.append(local(due, NY))
    # 03-08 02:30 does not exist in New York that night: skipped, as AWS documents
    assert times == ["2026-03-07 02:30", "2026-03-09 02:30", "2026-03-10 02:30"]
    sent = bodies(service.pending())
    assert [s["at"] for s in sent] == [
        "2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z",
    ]  # fmt: skip
    service.close()


def test_one_time_schedule_missed_while_stopped(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    run(service.create("soon", None, spec("at(2026-12-07T12:05:00)", window=window,
                                          action_after_completion="DELETE")))  # fmt: skip
    run(service.create("strict", None, spec("at(2026-12-07T12:05:00)")))
    service.close()  # firebox stops before 12:05 and is back at 12:14
    clock.now = at(2026, 12, 7, 12, 14)
    back = scheduler(tmp_path, clock)
    run(back.fire_due(clock.now))
    sent = back.pending()
    # within its 15-minute window: fired once; the one without a window: skipped
    assert [s.source_arn.rsplit("/", 1)[1] for s in sent] == ["soon"]
    with pytest.raises(SchedulerError):
        back.schedule("soon", None)  # ActionAfterCompletion DELETE
    assert back.schedule("strict", None).next_at is None  # done, kept
    run(back.fire_due(clock.now + 3600))
    assert len(back.pending()) == 1
    back.close()


def test_rate_schedule_bounds_and_refusals(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    start, end = at(2026, 12, 7, 13), at(2026, 12, 7, 13, 25)
    run(service.create("r", None, spec("rate(10 minutes)", start=start, end=end)))
    fired = []
    while (due := service.schedule("r", None).next_at) is not None:
        clock.now = due
        run(service.fire_due(due))
        fired.append(local(due, "UTC"))
    assert fired == ["2026-12-07 13:00", "2026-12-07 13:10", "2026-12-07 13:20"]
    for bad in (spec("rate(1 minutes)"), spec("cron(0 10 * * ? *)", timezone="Mars/Base"),
                spec("rate(5 minutes)", start=end, end=start),
                spec("rate(5 minutes)", window={"Mode": "FLEXIBLE"})):  # fmt: skip
        with pytest.raises(SchedulerError) as refused:
            run(service.create("bad", None, bad))
        assert refused.value.error_type == "ValidationException"
    with pytest.raises(SchedulerError) as conflict:
        run(service.create("r", None, spec("rate(5 minutes)")))
    assert conflict.value.error_type == "ConflictException"
    service.close()


# ----- what the review of the first version found ----------------------------------------------
def test_a_flexible_window_fires_the_latest_missed_tick_once(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    run(service.create("minutely", None, spec("rate(1 minute)", window=window)))
    run(service.fire_due(clock.now))  # a rate without StartDate fires at once
    clock.now += 10 * 60 + 5  # stopped for ten minutes
    following = run(service.fire_due(clock.now))
    sent = bodies(service.pending())
    assert [s["at"] for s in sent] == ["2026-12-07T12:00:00Z", "2026-12-07T12:10:00Z"]
    assert following == at(2026, 12, 7, 12, 11)  # on schedule again, no burst
    service.close()


def test_a_failed_commit_loses_no_tick(tmp_path: Path, loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    run(service.create("c", None, spec("cron(5 12 * * ? *)")))
    clock.now = at(2026, 12, 7, 12, 5)
    working = service._commit

    def broken(batches: Any) -> Any:
        raise OSError("disk full")

    service._commit = BatchCommit(broken)  # the store's commit fails (a full disk)
    with pytest.raises(OSError):
        run(service.fire_due(clock.now))
    assert service.schedule("c", None).next_at == clock.now  # still due
    service._commit = working
    run(service.fire_due(clock.now))
    assert len(service.pending()) == 1
    service.close()


def test_an_update_keeps_the_timing_it_does_not_change(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 9))
    service = scheduler(tmp_path, clock)
    run = loop.run_until_complete
    run(service.create("daily", None, spec("rate(1 day)")))
    run(service.create("once", None, spec("at(2026-12-07T09:00:30)")))
    clock.now = at(2026, 12, 7, 9, 0, 30)
    run(service.fire_due(clock.now))
    assert len(service.pending()) == 2
    clock.now = at(2026, 12, 7, 15, 37)
    for name, expression in (("daily", "rate(1 day)"), ("once", "at(2026-12-07T09:00:30)")):
        run(service.update(name, None, spec(expression, description="edited")))
    run(service.fire_due(clock.now))
    assert len(service.pending()) == 2  # neither fired again
    assert service.schedule("daily", None).next_at == at(2026, 12, 8, 9)
    assert service.schedule("once", None).next_at is None
    run(service.update("daily", None, spec("rate(2 days)")))  # a new rate counts from now
    assert service.schedule("daily", None).next_at == clock.now
    service.close()


def test_expressions_that_would_never_fire_are_refused(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    run = loop.run_until_complete
    service = scheduler(tmp_path, clock)
    for bad in ("at(2026-12-01T10:00:00)", "cron(0 10 1 1 ? 2020)"):
        with pytest.raises(SchedulerError) as refused:
            run(service.create("never", None, spec(bad)))
        assert refused.value.error_type == "ValidationException"
    service.close()
    rules = events_service(tmp_path, clock)
    with pytest.raises(EventsError):
        run(rules.put_rule("never", None, None, "cron(0 10 1 1 ? 2020)", None, None, None, {}))
    rules.close()
    for value in ("yesterday", -1, 1e20, True):
        with pytest.raises(ExpressionError):
            expressions.instant(value)
    assert expressions.instant("2026-12-07T12:00:00Z") == at(2026, 12, 7, 12)


def test_put_rule_replaces_what_it_describes(
    tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    clock = Clock(at(2026, 12, 7, 12))
    service = events_service(tmp_path, clock)
    run = loop.run_until_complete
    run(service.put_rule("r", None, '{"source": ["a"]}', None, None, "first", None, {}))
    run(service.put_targets("r", None, [Target("q", QUEUE)]))
    run(service.set_state("r", None, "DISABLED"))
    run(service.put_rule("r", None, '{"source": ["b"]}', None, None, None, None, {}))
    rule = service.rule("r", None)
    assert (rule.state, rule.description, [t.id for t in rule.targets]) == ("ENABLED", "", ["q"])
    # deeply nested details are malformed, not a failure of firebox
    from firebox.eventbridge.service import Entry, Refused

    (deep,) = run(service.put_events([Entry("b", "t", "[" * 5000)]))
    assert isinstance(deep, Refused) and deep.code == "MalformedDetail"
    # firebox's own entries (a scheduled event sent on to a bus) may carry an aws. source
    run(service.put_rule("sched", None, '{"source": ["aws.events"]}', None, None, None, None, {}))
    run(service.put_targets("sched", None, [Target("q", QUEUE)]))
    run(service.put_entry(service.bus_arn("default"),
                          {"Source": "aws.events", "DetailType": "Scheduled Event",
                           "Detail": "{}"}))  # fmt: skip
    assert [json.loads(s.body)["source"] for s in service.pending()] == ["aws.events"]
    service.close()

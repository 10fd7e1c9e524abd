"""Schedule expressions as AWS writes them: `rate(5 minutes)`, the six-field
`cron(min hour day-of-month month day-of-week year)` and the Scheduler's one-time
`at(yyyy-mm-ddThh:mm:ss)`, each evaluated in a time zone.

Cron follows AWS's dialect (`?`, `L`, `W`, `#`, day-of-week 1-7 = SUN-SAT) through
aws-croniter, which works on wall-clock times: a time zone's daylight-saving changes are
handled here, as the Scheduler documents them. A wall time the spring change skips does not
fire; one the autumn change repeats fires once (its first occurrence).
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_croniter import AwsCroniter
from aws_croniter.exceptions import AwsCroniterExpressionError

UTC = datetime.UTC
_RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
# How far ahead a cron expression is searched for its next wall time: beyond, it never fires.
_CRON_STEPS = 400


class ExpressionError(ValueError):
    """An expression AWS would refuse."""


@dataclass(frozen=True)
class Rate:
    """Every `period_s` seconds from an anchor (day units are 24-hour durations, as AWS
    documents: a daylight-saving day does not stretch them)."""

    period_s: int

    def next_after(self, after: float, anchor: float) -> float:
        """The first tick (anchor + k·period, k ≥ 0) later than `after`."""
        if after < anchor:
            return anchor
        steps = math.floor((after - anchor) / self.period_s) + 1
        return anchor + steps * self.period_s


@dataclass(frozen=True)
class Cron:
    """AWS's six-field cron, read in a time zone."""

    fields: str

    def next_after(self, after: float, zone: datetime.tzinfo) -> float | None:
        """The first instant later than `after` whose wall time in `zone` the expression
        names; None once there are no more (its years are over)."""
        croniter = _croniter(self.fields)
        local = datetime.datetime.fromtimestamp(after, zone)
        # aws-croniter wants UTC-tagged datetimes: it is given wall times so tagged.
        wall = local.replace(tzinfo=UTC, fold=0)
        for _ in range(_CRON_STEPS):
            (found,) = croniter.get_next(wall, 1)
            if found is None:
                return None
            wall = found
            instant = _instant(found.replace(tzinfo=None), zone)
            if instant is not None and instant > after:
                return instant
        return None


@dataclass(frozen=True)
class At:
    """Once, at a wall time in the schedule's zone."""

    wall: datetime.datetime  # naive

    def instant(self, zone: datetime.tzinfo) -> float:
        found = _instant(self.wall, zone)
        # A time the spring change skips: the first instant after the gap (its wall time
        # read with the offset before the change).
        return found if found is not None else self.wall.replace(tzinfo=zone).timestamp()


Expression = Rate | Cron | At


@functools.lru_cache(maxsize=1024)
def _croniter(fields: str) -> AwsCroniter:
    """An expression's fields parsed once (each schedule asks for its next tick again and
    again)."""
    return AwsCroniter(fields)


def _instant(wall: datetime.datetime, zone: datetime.tzinfo) -> float | None:
    """The instant a naive wall time names in a zone (the first of two in a repeated hour),
    None if the zone skips it."""
    aware = wall.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != wall:
        return None  # in the gap of a spring-forward change
    return aware.timestamp()


@functools.lru_cache(maxsize=4096)
def parse(text: str, allow_at: bool = False) -> Expression:
    """The expression `text` is; ExpressionError when AWS would not take it."""
    if not isinstance(text, str) or len(text) > 256:
        raise ExpressionError("expression too long")
    match = _RATE.match(text)
    if match:
        value, unit = int(match[1]), match[2]
        # AWS: `rate(1 minute)` but `rate(5 minutes)`; zero is no rate.
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ExpressionError("rate value and unit do not agree")
        return Rate(value * _UNIT_S[unit.rstrip("s")])
    match = _CRON.match(text)
    if match:
        try:
            AwsCroniter(match[1])
        except (AwsCroniterExpressionError, ValueError, IndexError) as exc:
            raise ExpressionError(str(exc)) from None
        return Cron(match[1])
    match = _AT.match(text) if allow_at else None
    if match:
        try:
            return At(datetime.datetime.fromisoformat(match[1]))
        except ValueError as exc:
            raise ExpressionError(str(exc)) from None
    raise ExpressionError("not a schedule expression")


def zone(name: str | None) -> datetime.tzinfo:
    """The IANA time zone named (UTC when none); ExpressionError for an unknown one."""
    if not name or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExpressionError(f"unknown time zone {name}") from None


def stamp(instant: float) -> str:
    """An instant as AWS's events write it: `2026-12-07T13:00:00Z`."""
    moment = datetime.datetime.fromtimestamp(instant, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# The instants firebox takes: from 1970 to the end of 9999, as datetimes can name them.
MAX_INSTANT = 253402300799.0


def instant(value: object) -> float:
    """An epoch-seconds instant from a number or an ISO-8601 text; ExpressionError otherwise."""
    if isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ExpressionError(f"not a timestamp: {value[:50]}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        value = moment.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError("not a timestamp")
    if not 0 <= value <= MAX_INSTANT:
        raise ExpressionError("timestamp out of range")
    return float(value)


def first_cron_tick(cron: Cron, after: float, zone_: datetime.tzinfo) -> float:
    """A cron expression's first tick after `after`; ExpressionError if it never fires (its
    years are past, or a form aws-croniter cannot compute, such as `L` alone in day-of-week)."""
    found = cron.next_after(after, zone_)
    if found is None:
        raise ExpressionError("the expression never fires")
    return found

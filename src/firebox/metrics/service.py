"""CloudWatch's metric operations over the recorder and the store, in typed values."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from firebox.metrics import expressions as ex
from firebox.metrics.cells import BASIC, Cell, statistic, valid_percentile
from firebox.metrics.errors import (
    invalid_combination,
    invalid_token,
    invalid_value,
    missing,
    validation,
)
from firebox.metrics.recorder import Recorder
from firebox.metrics.series import SeriesKey
from firebox.metrics.store import Point

DAY = 86_400
MAX_DATAPOINTS = 1_440  # GetMetricStatistics, per call
MAX_PUT = 1_000  # datums per PutMetricData
MAX_VALUES = 150  # Values (and Counts) of one datum
RESERVED = ("AWS/", "Firebox/")  # namespaces only the platform writes
PAGE = 500  # ListMetrics
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


@dataclass(frozen=True)
class StatisticSet:
    sample_count: float
    total: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class MetricInput:
    """One datum of PutMetricData."""

    name: str
    dimensions: dict[str, str] = field(default_factory=dict)
    timestamp: float | None = None
    value: float | None = None
    values: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    statistics: StatisticSet | None = None
    unit: str = "None"


@dataclass(frozen=True)
class Datapoint:
    """One period's statistics (GetMetricStatistics)."""

    timestamp: float
    values: dict[str, float]
    extended: dict[str, float]
    unit: str


@dataclass(frozen=True)
class MetricQuery:
    """One MetricDataQuery: a metric's statistic or an expression over others."""

    id: str
    metric: SeriesKey | None = None
    period: int | None = None
    stat: str | None = None
    unit: str | None = None
    expression: str | None = None
    label: str | None = None
    return_data: bool = True


@dataclass(frozen=True)
class QueryResult:
    id: str
    label: str
    timestamps: list[float]
    values: list[float]
    status: str = "Complete"
    messages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MetricData:
    results: list[QueryResult]
    next_token: str | None = None
    messages: tuple[tuple[str, str], ...] = ()


def check_period(period: int, member: str) -> None:
    if (
        period < 1
        or (period < 60 and period not in _HIGH_RESOLUTION_PERIODS)
        or (period >= 60 and period % 60)
    ):
        raise invalid_value(
            f"The parameter {member} must be 1, 5, 10, 20, 30, or any multiple of 60."
        )


def _aligned(start: float, now: float) -> int:
    """StartTime rounded down as CloudWatch rounds it, by how old it is."""
    age = now - start
    step = 60 if age < 15 * DAY else 300 if age < 63 * DAY else 3600
    return int(start) - int(start) % step


class MetricsService:
    """PutMetricData, GetMetricStatistics, GetMetricData and ListMetrics."""

    def __init__(self, recorder: Recorder, clock: Callable[[], float] = time.time) -> None:
        self.recorder = recorder
        self.clock = clock

    # ----- writing ---------------------------------------------------------------------------
    async def put_metric_data(self, namespace: str, data: list[MetricInput]) -> None:
        """Checks every datum, then stores them all (written before the call returns)."""
        if namespace.startswith(RESERVED):  # the platform's own (and what billing reads)
            raise invalid_value(f"The value {namespace} for parameter Namespace is invalid.")
        if len(data) > MAX_PUT:
            raise invalid_value(f"The collection MetricData must not have a size greater than "
                                f"{MAX_PUT}.")  # fmt: skip
        now = self.clock()
        cells: list[tuple[SeriesKey, float, Cell, str]] = []
        for n, datum in enumerate(data, start=1):
            cells.append(self._checked(namespace, datum, f"MetricData.member.{n}", now))
        for key, at, cell, unit in cells:
            self.recorder.merge_cell(key, at, cell, unit)
        await self.recorder.flush()

    @staticmethod
    def _checked(namespace: str, datum: MetricInput, member: str,
                 now: float) -> tuple[SeriesKey, float, Cell, str]:  # fmt: skip
        given = [n for n, v in (("Value", datum.value), ("StatisticValues", datum.statistics),
                                ("Values", datum.values or None)) if v is not None]  # fmt: skip
        if not given:
            raise missing(
                f"At least one of the parameters {member}.Value, {member}.StatisticValues, or "
                f"{member}.Values must be specified."
            )
        if len(given) > 1:
            raise invalid_combination(
                f"The parameters {member}.{given[0]} and {member}.{given[1]} are mutually "
                "exclusive and you have specified both."
            )
        if len(datum.values) > MAX_VALUES or len(datum.counts) > MAX_VALUES:
            raise invalid_value(
                f"The parameters {member}.Values and {member}.Counts may hold at most "
                f"{MAX_VALUES} numbers."
            )
        if datum.counts and len(datum.counts) != len(datum.values):
            raise invalid_value(
                f"The parameters {member}.Values and {member}.Counts must be of the same size."
            )
        numbers = [("Value", datum.value)] if datum.value is not None else []
        numbers += [("Values", v) for v in datum.values] + [("Counts", c) for c in datum.counts]
        if datum.statistics is not None:
            s = datum.statistics
            numbers += [("StatisticValues", v) for v in (s.sample_count, s.total, s.minimum,
                                                          s.maximum)]  # fmt: skip
        for name, value in numbers:
            if not math.isfinite(value) or abs(value) > 2.0**360:
                raise invalid_value(f"The value {value} for parameter {member}.{name} is invalid.")
        if any(c < 0 for c in datum.counts):
            raise invalid_value(f"The parameter {member}.Counts must not hold negative numbers.")
        at = datum.timestamp if datum.timestamp is not None else now
        if not now - 14 * DAY <= at <= now + 2 * 3600:  # (a NaN is outside too)
            raise invalid_value(
                f"The parameter {member}.Timestamp must specify a time no more than two weeks "
                "in the past or two hours in the future."
            )
        cell = Cell()
        if datum.value is not None:
            cell.add(datum.value, keep=True)
        for i, value in enumerate(datum.values):
            count = datum.counts[i] if datum.counts else 1.0
            if count == int(count):
                if count:
                    cell.add(value, int(count), keep=True)
            else:  # a fractional count: weighed in the histogram, not kept as samples
                cell.add_weighted(value, count)
        if datum.statistics is not None:
            s = datum.statistics
            if s.sample_count <= 0 or s.minimum > s.maximum:
                raise invalid_value(f"The parameter {member}.StatisticValues is invalid.")
            cell.merge(Cell(s.sample_count, s.total, s.minimum, s.maximum, [], {}))
        return SeriesKey.of(namespace, datum.name, datum.dimensions), at, cell, datum.unit

    # ----- reading ---------------------------------------------------------------------------
    async def _points(self, key: SeriesKey, start: int, end: int,
                      samples: bool = True) -> list[Point]:  # fmt: skip
        async with self.recorder.reading:  # no batch moves to the store meanwhile
            stored = await asyncio.to_thread(self.recorder.store.points, key, start, end, samples)
            return stored + self.recorder.pending(key, start, end)

    async def _unit(self, key: SeriesKey) -> str | None:
        pending = self.recorder.pending_series().get(key)
        if pending is not None:
            return pending[0]
        found = await asyncio.to_thread(self.recorder.store.series, key.namespace, key.name)
        return next((s.unit for s in found if s.key == key), None)

    @staticmethod
    def _buckets(points: list[Point], start: int, period: int) -> dict[int, list[Cell]]:
        buckets: dict[int, list[Cell]] = {}
        for point in points:
            at = start + (point.start - start) // period * period
            buckets.setdefault(at, []).append(point.cell)
        return buckets

    async def statistics(
        self, key: SeriesKey, start: float, end: float, period: int, stats: list[str],
        extended: list[str], unit: str | None = None,
    ) -> list[Datapoint]:  # fmt: skip
        """GetMetricStatistics: the statistics of each period with data."""
        check_period(period, "Period")
        if not stats and not extended:
            raise invalid_combination("Must specify either Statistics or ExtendedStatistics.")
        for name in extended:
            if valid_percentile(name) is None:
                raise invalid_value(
                    f"The value {name} for parameter ExtendedStatistics is not supported."
                )
        if start >= end:
            raise invalid_value("The parameter StartTime must be less than the parameter EndTime.")
        first = _aligned(start, self.clock())
        wanted = math.ceil((end - first) / period)
        if wanted > MAX_DATAPOINTS:
            raise invalid_combination(
                f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing "
                "Period, or decreasing the time range."
            )
        stored_unit = await self._unit(key)
        if stored_unit is None or (unit is not None and unit != stored_unit):
            return []
        points = await self._points(key, first, math.ceil(end), bool(extended))

        def compute() -> list[Datapoint]:  # (percentiles sort samples: off the event loop)
            buckets = self._buckets(points, first, period)
            out = []
            for at in sorted(buckets):
                cells = buckets[at]
                values = {s: v for s in stats if (v := statistic(s, cells)) is not None}
                ext = {s: v for s in extended if (v := statistic(s, cells)) is not None}
                out.append(Datapoint(float(at), values, ext, stored_unit))
            return out

        return await asyncio.to_thread(compute)

    async def metric_data(
        self, queries: list[MetricQuery], start: float, end: float,
        descending: bool = True, max_datapoints: int = 100_800, next_token: str | None = None,
    ) -> MetricData:  # fmt: skip
        """GetMetricData: each query's values per period, expressions evaluated over them."""
        self._check_queries(queries)
        if max_datapoints < 1:
            raise validation("The parameter MaxDatapoints must be greater than 0.")
        if start >= end:
            raise validation("The parameter StartTime must be less than the parameter EndTime.")
        offset = _token_offset(next_token)
        first = _aligned(start, self.clock())
        last = math.ceil(end)
        fetched: dict[str, ex.Series] = {}
        for q in queries:
            if q.metric is not None:
                assert q.period is not None and q.stat is not None
                fetched[q.id] = await self._series(q, first, last)
        by_id = {q.id: q for q in queries}
        trees = {q.id: ex.parse(q.expression) for q in queries if q.expression is not None}
        for qid, tree in trees.items():
            unknown = ex.references(tree) - set(by_id) - {"REPEAT"}
            if unknown:
                raise validation(f"Error in expression {qid}: Unrecognized metric or expression "
                                 f"id {sorted(unknown)[0]}")  # fmt: skip
        values: dict[str, ex.Value] = dict(fetched)
        getters = {i: (lambda i=i: values[i]) for i in by_id}
        for qid in _in_order(trees):  # each after the expressions it names
            try:
                values[qid] = ex.evaluate(trees[qid], getters, list(fetched))
            except ex.ExpressionError as exc:
                raise validation(f"Error in expression {qid}: {exc}") from None
            except RecursionError:
                raise validation(f"Error in expression {qid}: nested too deeply") from None

        def value_of(qid: str) -> ex.Value:
            return values[qid]

        stamps = sorted({t for s in fetched.values() for t in s.points})
        results: list[QueryResult] = []
        for q in queries:
            if not q.return_data:
                continue
            value = value_of(q.id)
            label = q.label or (q.metric.name if q.metric is not None else q.id)
            for series, suffix in _flatten(value, stamps):
                items = sorted(((t, v) for t, v in series.points.items() if math.isfinite(v)),
                               reverse=descending)  # fmt: skip
                results.append(QueryResult(
                    q.id, label + suffix, [float(t) for t, _v in items], [v for _t, v in items]
                ))  # fmt: skip
        return _page(results, offset, max_datapoints)

    def _check_queries(self, queries: list[MetricQuery]) -> None:
        if not queries:
            raise missing("The parameter MetricDataQueries is required.")
        if len(queries) > 500:
            raise validation("The collection MetricDataQueries must not have a size greater "
                             "than 500.")  # fmt: skip
        seen: set[str] = set()
        for n, q in enumerate(queries, start=1):
            member = f"MetricDataQueries.member.{n}"
            if not _ID.match(q.id):
                raise validation(f"The value {q.id} for parameter {member}.Id is not valid: it "
                                 "must start with a lowercase letter, then letters, digits or "
                                 "underscores.")  # fmt: skip
            if q.id in seen:
                raise validation(f"The value {q.id} for parameter {member}.Id is a duplicate.")
            seen.add(q.id)
            if (q.metric is None) == (q.expression is None):
                raise validation(f"Exactly one of {member}.MetricStat and {member}.Expression "
                                 "must be specified.")  # fmt: skip
            if q.metric is not None:
                if q.period is None or q.stat is None:
                    raise validation(f"The parameters {member}.MetricStat.Period and "
                                     f"{member}.MetricStat.Stat are required.")  # fmt: skip
                check_period(q.period, f"{member}.MetricStat.Period")
                if q.stat not in BASIC and valid_percentile(q.stat) is None:
                    raise validation(
                        f"The value {q.stat} for parameter "
                        f"{member}.MetricStat.Stat is not a valid statistic."
                    )
        if not any(q.return_data for q in queries):
            raise validation("At least one MetricDataQuery must have ReturnData set to true.")

    async def _series(self, q: MetricQuery, first: int, last: int) -> ex.Series:
        assert q.metric is not None and q.period is not None and q.stat is not None
        if q.unit is not None and await self._unit(q.metric) != q.unit:
            return ex.Series(label=q.metric.name)
        metric, stat, period = q.metric, q.stat, q.period
        if stat in BASIC:  # added up by the store, per period
            async with self.recorder.reading:
                sums = await asyncio.to_thread(self.recorder.store.sums, metric, first, last,
                                               period)  # fmt: skip
                pending = self.recorder.pending(metric, first, last)
            buckets = {at: [cell] for at, cell in sums.items()}
            for at, cells in self._buckets(pending, first, period).items():
                buckets.setdefault(at, []).extend(cells)
        else:
            buckets = self._buckets(await self._points(metric, first, last), first, period)

        def compute() -> dict[int, float]:  # (percentiles sort samples: off the event loop)
            return {at: v for at, cells in buckets.items()
                    if (v := statistic(stat, cells)) is not None}  # fmt: skip

        values = compute() if stat in BASIC else await asyncio.to_thread(compute)
        return ex.Series(values, metric.name)

    async def daily_sums(self, namespace: str, start: int, end: int
                         ) -> dict[tuple[SeriesKey, int], float]:  # fmt: skip
        """Each series' sum per UTC day (start: a day's start), however old the series."""
        stored = await asyncio.to_thread(self.recorder.store.series, namespace, None, start)
        keys = {s.key for s in stored} | {
            k for k, (_u, seen) in self.recorder.pending_series().items()
            if k.namespace == namespace and seen >= start
        }  # fmt: skip
        out: dict[tuple[SeriesKey, int], float] = {}
        for key in sorted(keys):
            for point in await self._points(key, start, end, samples=False):
                day = point.start - point.start % DAY
                out[(key, day)] = out.get((key, day), 0.0) + point.cell.total
        return out

    # ----- listing ---------------------------------------------------------------------------
    async def list_metrics(
        self, namespace: str | None = None, name: str | None = None,
        dimensions: list[tuple[str, str | None]] | None = None, recently_active: bool = False,
        next_token: str | None = None,
    ) -> tuple[list[SeriesKey], str | None]:  # fmt: skip
        """Metrics with data in the last two weeks (three hours if recently_active)."""
        since = int(self.clock()) - (3 * 3600 if recently_active else 14 * DAY)
        stored = await asyncio.to_thread(self.recorder.store.series, namespace, name, since)
        keys = {s.key for s in stored}
        keys |= {k for k, (_u, seen) in self.recorder.pending_series().items()
                 if (namespace is None or k.namespace == namespace)
                 and (name is None or k.name == name) and seen >= since}  # fmt: skip
        wanted = dimensions or []
        matching = sorted(k for k in keys if all(
            n in k.dimension_dict() and (v is None or k.dimension_dict()[n] == v)
            for n, v in wanted))  # fmt: skip
        offset = _token_offset(next_token)
        page = matching[offset : offset + PAGE]
        more = offset + PAGE < len(matching)
        return page, (_token(offset + PAGE) if more else None)


def _in_order(trees: dict[str, tuple[object, ...]]) -> list[str]:
    """Expression ids so that each comes after those it names; a cycle is refused."""
    needs = {qid: ex.references(tree) & set(trees) for qid, tree in trees.items()}
    order: list[str] = []
    ready = [qid for qid, deps in needs.items() if not deps]
    done: set[str] = set()
    while ready:
        qid = ready.pop()
        order.append(qid)
        done.add(qid)
        for other, deps in needs.items():
            if other not in done and other not in ready and deps <= done:
                ready.append(other)
    if len(order) < len(trees):
        stuck = sorted(set(trees) - done)[0]
        raise validation(f"Circular dependency in expression {stuck}")
    return order


def _flatten(value: ex.Value, stamps: list[int]) -> list[tuple[ex.Series, str]]:
    """An expression's value as result series: a scalar at every period with data."""
    if isinstance(value, list):
        return [(s, f" {s.label}" if s.label else "") for s in value]
    if isinstance(value, ex.Series):
        return [(value, "")]
    return [(ex.Series({t: value for t in stamps}), "")]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _token_offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_token("The service cannot process the NextToken you provided.") from None
    if not isinstance(offset, int) or offset < 0:
        raise invalid_token("The service cannot process the NextToken you provided.")
    return offset


def _page(results: list[QueryResult], offset: int, limit: int) -> MetricData:
    """At most `limit` values from `offset` on, in result order; the rest behind a token."""
    out: list[QueryResult] = []
    base = 0
    for r in results:
        n = len(r.values)
        lo = min(n, max(0, offset - base))
        hi = min(n, max(lo, offset + limit - base))
        base += n
        status = "Complete" if hi == n else "PartialData"
        out.append(QueryResult(r.id, r.label, r.timestamps[lo:hi], r.values[lo:hi], status))
    more = offset + limit < base
    return MetricData(out, _token(offset + limit) if more else None)

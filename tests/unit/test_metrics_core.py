"""The metrics core with time injected: statistics of known samples, the store contract on
both backends (merge, listing, roll-ups by age), the recorder's unflushed minutes, the
queries (GetMetricStatistics, GetMetricData with expressions, ListMetrics) and their errors,
and the Lambda meter's datums."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from firebox.metrics.cells import Cell, statistic
from firebox.metrics.errors import CloudWatchError
from firebox.metrics.lambda_metrics import LambdaMeter, billed_ms
from firebox.metrics.recorder import Recorder
from firebox.metrics.series import SeriesKey
from firebox.metrics.service import MetricInput, MetricQuery, MetricsService, StatisticSet
from firebox.metrics.store import DAY, MemoryMetricStore, MetricStore, SqliteMetricStore

T0 = 1_800_000_000 - 1_800_000_000 % 3600  # an hour's start
KEY = SeriesKey.of("App", "Latency", {"Route": "/a"})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cell_of(*values: float, keep: bool = True) -> Cell:
    cell = Cell()
    for v in values:
        cell.add(v, keep=keep)
    return cell


def test_statistics_of_known_samples() -> None:
    cells = [cell_of(*range(1, 51)), cell_of(*range(51, 101))]
    assert statistic("SampleCount", cells) == 100
    assert statistic("Sum", cells) == 5050
    assert statistic("Average", cells) == 50.5
    assert (statistic("Minimum", cells), statistic("Maximum", cells)) == (1, 100)
    assert statistic("p50", cells) == 50  # nearest rank
    assert statistic("p99", cells) == 99
    assert statistic("p100", cells) == 100
    assert statistic("tm50", cells) == 25.5  # mean of the lower half
    assert statistic("p99", []) is None


def test_percentiles_from_the_histogram_are_within_two_percent() -> None:
    folded = cell_of(*range(1, 1001))
    folded.forget_values()
    p90 = statistic("p90", [folded])
    assert p90 is not None and abs(p90 - 900) / 900 < 0.02


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MetricStore:
    if request.param == "memory":
        return MemoryMetricStore()
    return SqliteMetricStore(tmp_path / "metrics.sqlite3")


def test_store_merges_and_lists(store: MetricStore) -> None:
    store.merge({(KEY, T0): (cell_of(1, 2), "Milliseconds")})
    store.merge({(KEY, T0): (cell_of(3), "Milliseconds"),
                 (KEY, T0 + 60): (cell_of(10), "Milliseconds")})  # fmt: skip
    points = store.points(KEY, T0, T0 + 120)
    assert [(p.start, p.cell.count, p.cell.values) for p in points] == [
        (T0, 3, [1, 2, 3]), (T0 + 60, 1, [10])
    ]  # fmt: skip
    assert [(s.key, s.unit) for s in store.series("App")] == [(KEY, "Milliseconds")]
    assert store.series("Other") == [] and store.series(since=T0 + 61) == []


def test_store_rolls_up_by_age(store: MetricStore) -> None:
    store.merge({(KEY, T0 + m * 60): (cell_of(float(m)), "None") for m in range(10)})
    store.compact(T0 + 2 * DAY)  # a day on: samples folded, still one-minute data
    points = store.points(KEY, T0, T0 + 3600)
    assert len(points) == 10 and all(p.cell.values is None for p in points)
    store.compact(T0 + 16 * DAY)  # past 15 days: five-minute data
    points = store.points(KEY, T0, T0 + 3600)
    assert [(p.start, p.resolution, p.cell.count, p.cell.total) for p in points] == [
        (T0, 300, 5, 10.0), (T0 + 300, 300, 5, 35.0)
    ]  # fmt: skip
    store.compact(T0 + 64 * DAY)  # past 63 days: hourly
    assert [(p.resolution, p.cell.count) for p in store.points(KEY, T0, T0 + 3600)] == [(3600, 10)]
    store.compact(T0 + 456 * DAY)  # past 455 days: gone
    assert store.points(KEY, T0, T0 + 3600) == [] and store.series() == []


def test_sqlite_store_keeps_data_across_opening(tmp_path: Path) -> None:
    first = SqliteMetricStore(tmp_path / "m.sqlite3")
    first.merge({(KEY, T0): (cell_of(5), "Count")})
    first.close()
    again = SqliteMetricStore(tmp_path / "m.sqlite3")
    assert [p.cell.values for p in again.points(KEY, T0, T0 + 60)] == [[5]]


def make(clock: Clock) -> tuple[Recorder, MetricsService]:
    recorder = Recorder(MemoryMetricStore(), clock)
    return recorder, MetricsService(recorder, clock)


def test_unflushed_data_is_read_and_flushed_once() -> None:
    clock = Clock(T0 + 30)
    recorder, service = make(clock)

    async def run() -> None:
        recorder.put(KEY, 4.0, "Milliseconds", distribution=True)
        points = await service.statistics(KEY, T0, T0 + 60, 60, ["Sum", "SampleCount"], ["p50"])
        assert [(p.values, p.extended, p.unit) for p in points] == [
            ({"Sum": 4.0, "SampleCount": 1.0}, {"p50": 4.0}, "Milliseconds")
        ]  # fmt: skip
        await recorder.flush()
        recorder.put(KEY, 6.0, "Milliseconds", distribution=True)
        points = await service.statistics(KEY, T0, T0 + 60, 60, ["Sum"], [])
        assert points[0].values == {"Sum": 10.0}  # stored + pending, nothing twice

    asyncio.run(run())


def test_statistics_errors() -> None:
    _, service = make(Clock(T0))

    async def run() -> None:
        with pytest.raises(CloudWatchError) as bad:
            await service.statistics(KEY, T0, T0 + 60, 45, ["Sum"], [])
        assert bad.value.query_code == "InvalidParameterValue"
        with pytest.raises(CloudWatchError) as bad:
            await service.statistics(KEY, T0, T0 + 60, 60, [], [])
        assert bad.value.query_code == "InvalidParameterCombination"
        with pytest.raises(CloudWatchError) as bad:
            await service.statistics(KEY, T0, T0 + 2 * DAY, 60, ["Sum"], [])
        assert "exceeds the limit of 1,440" in bad.value.message
        with pytest.raises(CloudWatchError):
            await service.statistics(KEY, T0 + 60, T0, 60, ["Sum"], [])

    asyncio.run(run())


def test_put_metric_data_checks_everything_first() -> None:
    clock = Clock(T0 + 10)
    recorder, service = make(clock)

    async def run() -> None:
        good = MetricInput("Latency", {"Route": "/a"}, value=1.0, unit="Milliseconds")
        for bad, code in [
            (MetricInput("Latency"), "MissingParameter"),
            (MetricInput("Latency", value=1.0, values=(2.0,)), "InvalidParameterCombination"),
            (MetricInput("Latency", values=(1.0, 2.0), counts=(1.0,)), "InvalidParameterValue"),
            (MetricInput("Latency", value=math.nan), "InvalidParameterValue"),
            (MetricInput("Latency", value=1.0, timestamp=T0 - 15 * DAY), "InvalidParameterValue"),
        ]:
            with pytest.raises(CloudWatchError) as err:
                await service.put_metric_data("App", [good, bad])
            assert err.value.query_code == code
        with pytest.raises(CloudWatchError):
            await service.put_metric_data("AWS/Lambda", [good])
        assert recorder.store.series() == []  # nothing of a refused call was kept
        await service.put_metric_data("App", [
            good,
            MetricInput("Latency", {"Route": "/a"}, values=(2.0, 3.0), counts=(2.0, 1.0),
                        unit="Milliseconds"),
            MetricInput("Latency", {"Route": "/a"}, unit="Milliseconds",
                        statistics=StatisticSet(2, 20.0, 5.0, 15.0)),
        ])  # fmt: skip
        assert [s.key for s in recorder.store.series()] == [KEY]  # stored before answering
        (point,) = await service.statistics(KEY, T0, T0 + 60, 60, list(
            ("SampleCount", "Sum", "Minimum", "Maximum")), ["p50"])  # fmt: skip
        assert point.values == {"SampleCount": 6, "Sum": 28.0, "Minimum": 1.0, "Maximum": 15.0}
        assert point.extended == {"p50": 2.0}  # over the samples it has

    asyncio.run(run())


def test_metric_data_with_expressions_and_pages() -> None:
    clock = Clock(T0 + 300)
    recorder, service = make(clock)
    a, b = SeriesKey.of("App", "A"), SeriesKey.of("App", "B")
    for minute in range(3):
        recorder.put(a, minute + 1, "Count", T0 + minute * 60)
        recorder.put(b, 10 * (minute + 1), "Count", T0 + minute * 60)
    recorder.put(b, 5, "Count", T0 + 3 * 60)  # only b has minute 3

    async def run() -> None:
        queries = [
            MetricQuery("ma", a, 60, "Sum", return_data=False),
            MetricQuery("mb", b, 60, "Sum"),
            MetricQuery("total", expression="SUM(METRICS())", label="Total"),
            MetricQuery("ratio", expression="ma / mb * 100"),
            MetricQuery("avg", expression="AVG(mb)"),
        ]
        data = await service.metric_data(queries, T0, T0 + 300)
        got = {r.id: (r.label, r.timestamps, r.values) for r in data.results}
        assert "ma" not in got
        assert got["mb"] == ("B", [T0 + 180, T0 + 120, T0 + 60, T0], [5, 30, 20, 10])
        assert got["total"] == ("Total", [T0 + 180, T0 + 120, T0 + 60, T0], [5, 33, 22, 11])
        assert got["ratio"][2] == [10.0, 10.0, 10.0]  # only where both have data
        assert set(got["avg"][2]) == {16.25}  # a scalar, at every period
        first = await service.metric_data(queries[:2], T0, T0 + 300, False, max_datapoints=3)
        assert first.results[0].values == [10, 20, 30]
        assert first.results[0].status == "PartialData" and first.next_token
        rest = await service.metric_data(queries[:2], T0, T0 + 300, False, 3, first.next_token)
        assert rest.results[0].values == [5] and rest.next_token is None
        for bad in (
            [MetricQuery("Bad", a, 60, "Sum")],
            [MetricQuery("x", a, 60, "Sum"), MetricQuery("x", b, 60, "Sum")],
            [MetricQuery("e", expression="nope + 1")],
            [MetricQuery("e", expression="SUM(")],
            [MetricQuery("e", expression="f"), MetricQuery("f", expression="e")],
            [MetricQuery("m", a, 60, "p101")],
        ):
            with pytest.raises(CloudWatchError) as err:
                await service.metric_data(bad, T0, T0 + 300)
            assert err.value.query_code == "ValidationError"
        with pytest.raises(CloudWatchError) as err:
            await service.metric_data(queries[:2], T0, T0 + 300, next_token="garbage!")
        assert err.value.query_code == "InvalidNextToken"

    asyncio.run(run())


def test_list_metrics_filters_by_dimensions() -> None:
    clock = Clock(T0)
    recorder, service = make(clock)
    recorder.put(SeriesKey.of("AWS/Lambda", "Invocations", {"FunctionName": "f"}), 1)
    recorder.put(SeriesKey.of("AWS/Lambda", "Invocations", {"FunctionName": "g"}), 1)
    recorder.put(SeriesKey.of("AWS/Lambda", "Invocations"), 1)

    async def run() -> None:
        keys, token = await service.list_metrics("AWS/Lambda", "Invocations",
                                                 [("FunctionName", None)])  # fmt: skip
        assert [k.dimension_dict() for k in keys] == [{"FunctionName": "f"},
                                                      {"FunctionName": "g"}]  # fmt: skip
        keys, _ = await service.list_metrics(dimensions=[("FunctionName", "g")])
        assert len(keys) == 1 and token is None
        clock.now += 4 * 3600
        assert (await service.list_metrics(recently_active=True))[0] == []
        assert len((await service.list_metrics())[0]) == 3

    asyncio.run(run())


def test_lambda_meter_counts_and_bills() -> None:
    clock = Clock(T0 + 5)
    recorder, service = make(clock)
    meter = LambdaMeter(recorder, reserved=lambda name: name == "r", clock=clock)
    first = meter.started("f")
    second = meter.started("f")
    throttled = meter.started("r")
    meter.throttled("r", None, throttled)
    meter.finished("f", "live", first, "3", False, 10.2, 1024, 1024, "x86_64", False)
    meter.finished("f", None, second, "$LATEST", True, 0.4, 512, 512, "arm64", False)

    async def run() -> None:
        async def total(name: str, dims: dict[str, str], stat: str = "Sum",
                        ns: str = "AWS/Lambda") -> float | None:  # fmt: skip
            points = await service.statistics(SeriesKey.of(ns, name, dims), T0, T0 + 60, 60,
                                              [stat], [])  # fmt: skip
            return points[0].values[stat] if points else None

        f = {"FunctionName": "f"}
        assert await total("Invocations", f) == 2 and await total("Errors", f) == 1
        assert await total("Invocations", {}) == 2
        assert await total("Invocations", {**f, "Resource": "f:live", "ExecutedVersion": "3"}) == 1
        assert await total("Throttles", {"FunctionName": "r"}) == 1
        assert await total("Invocations", {"FunctionName": "r"}) is None
        assert await total("ConcurrentExecutions", f, "Maximum") == 2
        assert await total("UnreservedConcurrentExecutions", {}, "Maximum") == 2
        assert await total("Duration", f, "Maximum") == 10.2
        bill = {"FunctionName": "f", "Architecture": "x86_64"}
        assert await total("DurationGBSeconds", bill, ns="Firebox/Billing") == 1 * 0.011
        assert await total("EphemeralStorageGBSeconds", bill, ns="Firebox/Billing") == 0.5 * 0.011
        arm = {"FunctionName": "f", "Architecture": "arm64"}
        assert await total("DurationGBSeconds", arm, ns="Firebox/Billing") == 0.5 * 0.001

    asyncio.run(run())
    assert billed_ms(0.01) == 1 and billed_ms(10.0) == 10 and billed_ms(10.01) == 11


def test_hostile_emf_documents_add_nothing() -> None:
    from firebox.metrics.emf import datums

    now_ms = T0 * 1000

    def doc(**over: object) -> str:
        base: dict[str, object] = {"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [
            {"Namespace": "App", "Dimensions": [["S"]], "Metrics": [{"Name": "m"}]}]},
            "S": "x", "m": 1}  # fmt: skip
        base.update(over)
        import json

        return json.dumps(base)

    assert len(datums(doc(), now_ms)) == 1
    wide = {"_aws": {"CloudWatchMetrics": [{"Namespace": "App", "Dimensions": [["S"]] * 10_000,
            "Metrics": [{"Name": "m"}] * 90}]}, "S": "x", "m": [1] * 100}  # fmt: skip
    import json

    assert datums(json.dumps(wide), now_ms) == []  # over EMF's limits: ignored whole
    spoof = {"_aws": {"CloudWatchMetrics": [{"Namespace": "AWS/Lambda",
             "Metrics": [{"Name": "Errors"}]}]}, "Errors": 5}  # fmt: skip
    assert datums(json.dumps(spoof), now_ms) == []
    assert datums(doc(m=10**400), now_ms) == []  # huge integers are no numbers
    far = datums(doc(_aws={"Timestamp": 1e30, "CloudWatchMetrics": [
        {"Namespace": "App", "Metrics": [{"Name": "m"}]}]}), now_ms)  # fmt: skip
    assert [d.timestamp for d in far] == [T0]  # an absurd time: the time it arrived
    assert datums("{" * 100_000 + '"_aws"', now_ms) == []


def test_metric_math_edge_cases() -> None:
    clock = Clock(T0 + 300)
    recorder, service = make(clock)
    a, b = SeriesKey.of("App", "A"), SeriesKey.of("App", "B")
    recorder.put(a, 4, "Count", T0)
    recorder.put(a, 9, "Count", T0 + 120)
    recorder.put(b, 1, "Count", T0 + 60)

    async def run() -> None:
        base = [MetricQuery("ma", a, 60, "Sum", return_data=False),
                MetricQuery("mb", b, 60, "Sum", return_data=False)]  # fmt: skip

        async def values(expression: str) -> list[float]:
            data = await service.metric_data([*base, MetricQuery("e", expression=expression)],
                                             T0, T0 + 300, descending=False)  # fmt: skip
            return data.results[0].values

        assert await values("FILL(ma, 0)") == [4, 0, 9]
        assert await values("FILL(ma, REPEAT)") == [4, 4, 9]
        assert await values("(ma - 5) ^ 0.5") == [2.0]  # a complex root is no number
        assert await values("SUM(METRICS()) * 1e308 * 10") == []
        chain = [MetricQuery(f"e{i}", expression=f"e{i - 1} + 1" if i else "ma",
                             return_data=i == 497) for i in range(498)]  # fmt: skip
        deep = await service.metric_data([*base, *chain], T0, T0 + 300, descending=False)
        assert deep.results[0].values == [501, 506]
        for bad in ("METRICS() + METRICS()", "ABS(" * 60 + "ma" + ")" * 60):
            with pytest.raises(CloudWatchError) as err:
                await values(bad)
            assert err.value.query_code == "ValidationError"
        with pytest.raises(CloudWatchError):
            await service.metric_data(base, T0, T0 + 300, max_datapoints=0)

    asyncio.run(run())

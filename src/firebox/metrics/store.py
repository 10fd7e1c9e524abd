"""Where metric data is kept: by series and minute, rolled up as it ages (SQLite or memory).

Retention follows CloudWatch's: one-minute data for 15 days, five-minute data for 63 days,
one-hour data for 455 days. Samples kept one by one (for exact percentiles) are folded into
their histograms after a day.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from firebox.metrics.cells import Cell
from firebox.metrics.series import SeriesKey
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

DAY = 86_400
# (resolution, how long it is kept, what it becomes after)
TIERS = ((60, 15 * DAY, 300), (300, 63 * DAY, 3600), (3600, 455 * DAY, 0))
KEEP_VALUES_S = DAY


@dataclass(frozen=True)
class Point:
    """A series' cell for one period of `resolution` seconds starting at `start`."""

    start: int
    resolution: int
    cell: Cell


@dataclass(frozen=True)
class StoredSeries:
    key: SeriesKey
    unit: str
    last_seen: int  # epoch seconds of its newest data


Batch = dict[tuple[SeriesKey, int], tuple[Cell, str]]  # (series, minute start) → (cell, unit)


class MetricStore(Protocol):
    """The contract every backend keeps (tests/unit/test_metric_store.py runs it on each)."""

    def merge(self, batch: Batch) -> None:
        """Adds one-minute cells to what is stored."""

    def series(self, namespace: str | None = None, name: str | None = None,
               since: int = 0) -> list[StoredSeries]:  # fmt: skip
        """Series with data since `since`, optionally of one namespace and name."""

    def points(self, key: SeriesKey, start: int, end: int, samples: bool = True) -> list[Point]:
        """A series' points starting in [start, end); without `samples` only their count,
        sum, minimum and maximum (all the basic statistics need, and far quicker to read)."""

    def sums(self, key: SeriesKey, start: int, end: int, period: int) -> dict[int, Cell]:
        """Count, sum, minimum and maximum per period from `start` (the basic statistics),
        added up where the data is."""

    def compact(self, now: int) -> None:
        """Rolls aged data up a tier and drops what is past its last."""

    def close(self) -> None: ...


def _rollups(points: Iterable[tuple[SeriesKey, Point]], now: int) -> tuple[
    list[tuple[SeriesKey, Point]], list[tuple[SeriesKey, Point]]
]:  # fmt: skip
    """(points to remove, points to add) for the compaction of `points` at `now`."""
    tiers = {resolution: (keep, after) for resolution, keep, after in TIERS}
    removed: list[tuple[SeriesKey, Point]] = []
    added: dict[tuple[SeriesKey, int, int], Cell] = {}
    for key, point in points:
        keep, after = tiers.get(point.resolution, (0, 0))
        if point.start + point.resolution > now - keep:
            continue
        removed.append((key, point))
        if after:
            cell = point.cell.copy()
            cell.forget_values()
            start = point.start - point.start % after
            into = added.setdefault((key, after, start), Cell(values=None))
            into.merge(cell)
    return removed, [(k, Point(start, res, cell)) for (k, res, start), cell in added.items()]


def _add_basic(out: dict[int, Cell], at: int, n: float, total: float, lo: float,
               hi: float) -> None:  # fmt: skip
    found = out.get(at)
    if found is None:
        out[at] = Cell(n, total, lo, hi, None, {})
    else:
        found.count += n
        found.total += total
        found.minimum = min(found.minimum, lo)
        found.maximum = max(found.maximum, hi)


class MemoryMetricStore:
    """Metric data in memory: for tests, and for a server run with --no-persist-metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[SeriesKey, dict[tuple[int, int], Cell]] = {}
        self._units: dict[SeriesKey, tuple[str, int]] = {}

    def merge(self, batch: Batch) -> None:
        with self._lock:
            for (key, start), (cell, unit) in batch.items():
                self._put(key, Point(start, 60, cell))
                seen = self._units.get(key, ("", 0))[1]
                self._units[key] = (unit, max(seen, start))

    def _put(self, key: SeriesKey, point: Point) -> None:
        cells = self._points.setdefault(key, {})
        found = cells.get((point.resolution, point.start))
        if found is None:
            cells[(point.resolution, point.start)] = point.cell.copy()
        else:
            found.merge(point.cell)

    def series(self, namespace: str | None = None, name: str | None = None,
               since: int = 0) -> list[StoredSeries]:  # fmt: skip
        with self._lock:
            return [
                StoredSeries(key, unit, last) for key, (unit, last) in sorted(self._units.items())
                if (namespace is None or key.namespace == namespace)
                and (name is None or key.name == name) and last >= since
            ]  # fmt: skip

    def points(self, key: SeriesKey, start: int, end: int, samples: bool = True) -> list[Point]:
        with self._lock:
            cells = self._points.get(key, {})
            return sorted(
                (
                    Point(s, res, cell.copy())
                    for (res, s), cell in cells.items()
                    if start <= s < end
                ),
                key=lambda p: (p.start, p.resolution),
            )

    def sums(self, key: SeriesKey, start: int, end: int, period: int) -> dict[int, Cell]:
        out: dict[int, Cell] = {}
        for point in self.points(key, start, end, samples=False):
            at = start + (point.start - start) // period * period
            _add_basic(out, at, point.cell.count, point.cell.total, point.cell.minimum,
                       point.cell.maximum)  # fmt: skip
        return out

    def compact(self, now: int) -> None:
        with self._lock:
            every = [(key, Point(s, res, c)) for key, cells in self._points.items()
                     for (res, s), c in cells.items()]  # fmt: skip
            removed, added = _rollups(every, now)
            for key, point in removed:
                del self._points[key][(point.resolution, point.start)]
            for key, point in added:
                self._put(key, point)
            for cells in self._points.values():
                for (res, s), cell in cells.items():
                    if res == 60 and s < now - KEEP_VALUES_S:
                        cell.forget_values()
            for key in [k for k, cells in self._points.items() if not cells]:
                del self._points[key]
                self._units.pop(key, None)

    def close(self) -> None:
        pass


MIGRATIONS = [
    Migration(
        1,
        "metric series and their points",
        """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    unit TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    UNIQUE (namespace, name, dimensions)
);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    resolution INTEGER NOT NULL,
    start INTEGER NOT NULL,
    count REAL NOT NULL,
    total REAL NOT NULL,
    minimum REAL NOT NULL,
    maximum REAL NOT NULL,
    samples BLOB,
    histogram TEXT NOT NULL,
    PRIMARY KEY (series, resolution, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_age ON points (resolution, start);
""",
    ),
]


def _dims(key: SeriesKey) -> str:
    return json.dumps(key.dimensions, separators=(",", ":"))


def _cell(row: tuple[float, float, float, float, bytes | None, str]) -> Cell:
    count, total, minimum, maximum, samples, histogram = row
    hist = {float(k): float(v) for k, v in json.loads(histogram)}
    return Cell(count, total, minimum, maximum, Cell.unpack_values(samples), hist)


class SqliteMetricStore:
    """Metric data in `metrics.sqlite3`: a row per series, resolution and period."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        # NORMAL: a batch is a few seconds of platform metrics, rewritten at the next flush;
        # PutMetricData's data is flushed before it is answered.
        self._conn = connect(path, synchronous="NORMAL")
        with self._lock:
            migrate(self._conn, MIGRATIONS, str(path))
        self._ids: dict[SeriesKey, int] = {}

    def _series_id(self, key: SeriesKey, unit: str, seen: int) -> int:
        """The series' row (made if new), its unit and newest minute brought up to date."""
        found = self._ids.get(key)
        dims = _dims(key)
        if found is None:
            self._conn.execute(
                "INSERT INTO series (namespace, name, dimensions, unit, last_seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key.namespace, key.name, dims, unit, seen),
            )
            (found,) = self._conn.execute(
                "SELECT id FROM series WHERE namespace = ? AND name = ? AND dimensions = ?",
                (key.namespace, key.name, dims),
            ).fetchone()
            self._ids[key] = found
        self._conn.execute(
            "UPDATE series SET unit = ?, last_seen = max(last_seen, ?) WHERE id = ?",
            (unit, seen, found),
        )
        return int(found)

    def merge(self, batch: Batch) -> None:
        # Each series once per batch: its unit of its newest minute.
        newest: dict[SeriesKey, tuple[int, str]] = {}
        for (key, start), (_cell, unit) in batch.items():
            if start >= newest.get(key, (-1, ""))[0]:
                newest[key] = (start, unit)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                ids = {key: self._series_id(key, unit, start)
                       for key, (start, unit) in newest.items()}  # fmt: skip
                for (key, start), (cell, _unit) in batch.items():
                    self._put(ids[key], Point(start, 60, cell))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._ids.clear()
                raise

    def _put(self, series: int, point: Point) -> None:
        row = self._conn.execute(
            "SELECT count, total, minimum, maximum, samples, histogram FROM points "
            "WHERE series = ? AND resolution = ? AND start = ?",
            (series, point.resolution, point.start),
        ).fetchone()
        cell = point.cell.copy()
        if row is not None:
            cell = _cell(row)
            cell.merge(point.cell)
        self._conn.execute(
            "INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (series, point.resolution, point.start, cell.count, cell.total, cell.minimum,
             cell.maximum, cell.packed_values(), json.dumps(list(cell.hist.items()))),
        )  # fmt: skip

    def series(self, namespace: str | None = None, name: str | None = None,
               since: int = 0) -> list[StoredSeries]:  # fmt: skip
        sql = "SELECT namespace, name, dimensions, unit, last_seen FROM series WHERE last_seen >= ?"
        args: list[object] = [since]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        if name is not None:
            sql += " AND name = ?"
            args.append(name)
        with self._lock:
            rows = self._conn.execute(
                sql + " ORDER BY namespace, name, dimensions", args
            ).fetchall()
        return [
            StoredSeries(SeriesKey(ns, n, tuple(tuple(d) for d in json.loads(dims))), unit, last)
            for ns, n, dims, unit, last in rows
        ]

    def points(self, key: SeriesKey, start: int, end: int, samples: bool = True) -> list[Point]:
        extra = "samples, histogram" if samples else "NULL, NULL"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT p.start, p.resolution, count, total, minimum, maximum, {extra} "
                "FROM points p JOIN series s ON s.id = p.series WHERE s.namespace = ? AND "
                "s.name = ? AND s.dimensions = ? AND p.start >= ? AND p.start < ? "
                "ORDER BY p.start, p.resolution",
                (key.namespace, key.name, _dims(key), start, end),
            ).fetchall()
        if not samples:
            return [Point(s, res, Cell(n, total, lo, hi, None, {}))
                    for s, res, n, total, lo, hi, _x, _y in rows]  # fmt: skip
        return [Point(s, res, _cell(rest)) for s, res, *rest in rows]

    def sums(self, key: SeriesKey, start: int, end: int, period: int) -> dict[int, Cell]:
        with self._lock:
            found = self._conn.execute(
                "SELECT id FROM series WHERE namespace = ? AND name = ? AND dimensions = ?",
                (key.namespace, key.name, _dims(key)),
            ).fetchone()
            if found is None:
                return {}
            rows = self._conn.execute(
                "SELECT ? + (start - ?) / ? * ?, sum(count), sum(total), min(minimum), "
                "max(maximum) FROM points WHERE series = ? AND start >= ? AND start < ? "
                "GROUP BY 1",
                (start, start, period, period, found[0], start, end),
            ).fetchall()
        out: dict[int, Cell] = {}
        for at, n, total, lo, hi in rows:
            _add_basic(out, int(at), n, total, lo, hi)
        return out

    def compact(self, now: int) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._compact(now)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _compact(self, now: int) -> None:
        for resolution, keep, _after in TIERS:
            rows = self._conn.execute(
                "SELECT series, start, count, total, minimum, maximum, samples, histogram "
                "FROM points WHERE resolution = ? AND start <= ?",
                (resolution, now - keep - resolution),
            ).fetchall()
            keyed = [(SeriesKey("", str(sid)), Point(start, resolution, _cell(rest)))
                     for sid, start, *rest in rows]  # fmt: skip
            removed, added = _rollups(keyed, now)
            for key, point in removed:
                self._conn.execute(
                    "DELETE FROM points WHERE series = ? AND resolution = ? AND start = ?",
                    (int(key.name), point.resolution, point.start),
                )
            for key, point in added:
                self._put(int(key.name), point)
        aged = self._conn.execute(
            "SELECT series, start, count, total, minimum, maximum, samples, histogram FROM points "
            "WHERE resolution = 60 AND start < ? AND samples IS NOT NULL",
            (now - KEEP_VALUES_S,),
        ).fetchall()
        for sid, start, *rest in aged:
            cell = _cell(rest)
            cell.forget_values()
            self._conn.execute(
                "UPDATE points SET samples = NULL, histogram = ? "
                "WHERE series = ? AND resolution = 60 AND start = ?",
                (json.dumps(list(cell.hist.items())), sid, start),
            )
        self._conn.execute("DELETE FROM series WHERE NOT EXISTS "
                           "(SELECT 1 FROM points WHERE points.series = series.id)")  # fmt: skip
        self._ids.clear()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

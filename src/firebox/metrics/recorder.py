"""The recorder: what happened, noted in memory on the hot path and turned into per-minute
cells later, in batches (a flush, a query, a scrape), so recording costs an append."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable

from firebox.metrics.cells import Cell
from firebox.metrics.series import Datum, SeriesKey
from firebox.metrics.store import Batch, MetricStore, Point

log = logging.getLogger("firebox.metrics")
PAST_S, FUTURE_S = 15 * 86_400, 3 * 3_600  # datums further off are dropped


class Recorder:
    """Collects datums and its sources' tallies; keeps the unflushed minutes readable."""

    def __init__(self, store: MetricStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.enabled = True  # off: datums are dropped (the benchmark's baseline)
        self._datums: list[Datum] = []
        self._cells: Batch = {}
        self._flushing: Batch = {}
        # Since start, per series: Prometheus's view (count, sum, last value).
        self.totals: dict[SeriesKey, list[float]] = {}
        self.units: dict[SeriesKey, str] = {}
        self._flush_lock = asyncio.Lock()
        # What else makes datums, drained at each expansion (LambdaMeter's tallies).
        self.sources: list[Callable[[], Iterable[Datum]]] = []

    def note(self, datum: Datum) -> None:
        """Records a datum (one append: its cell is found at the next expansion)."""
        if self.enabled:
            self._datums.append(datum)

    def put(self, key: SeriesKey, value: float, unit: str = "None", timestamp: float = 0.0,
            count: int = 1, distribution: bool = False) -> None:  # fmt: skip
        """A datum, stamped now unless given a time (expansion comes seconds later)."""
        at = timestamp or self.clock()
        self.note(Datum(key, value, unit, at, count, distribution))

    def expand(self) -> None:
        """Turns the datums noted so far, and the sources' tallies, into cells."""
        datums, self._datums = self._datums, []
        now = self.clock()
        for datum in datums:
            self._add(datum, now)
        for source in self.sources:
            for datum in source():
                self._add(datum, now)

    def _add(self, datum: Datum, now: float) -> None:
        at = datum.timestamp or now
        if not (now - PAST_S <= at <= now + FUTURE_S) or not math.isfinite(datum.value):
            return  # (whoever made it checked it; a store must never choke on one)
        minute = int(at) - int(at) % 60
        slot = (datum.key, minute)
        found = self._cells.get(slot)
        if found is None:
            found = self._cells[slot] = (Cell(), datum.unit)
        elif found[1] != datum.unit:
            found = self._cells[slot] = (found[0], datum.unit)
        if datum.samples:
            found[0].add_many(datum.samples)
            count, total_value, last = len(datum.samples), sum(datum.samples), datum.samples[-1]
        else:
            found[0].add(datum.value, datum.count, datum.distribution)
            count, total_value, last = datum.count, datum.value * datum.count, datum.value
        if datum.key.namespace.startswith("AWS/"):  # what Prometheus is shown
            total = self.totals.get(datum.key)
            if total is None:
                total = self.totals[datum.key] = [0.0, 0.0, 0.0]
            total[0] += count
            total[1] += total_value
            total[2] = last
            self.units[datum.key] = datum.unit

    def merge_cell(self, key: SeriesKey, at: float, cell: Cell, unit: str) -> None:
        """Adds a whole cell (PutMetricData's datum) to its minute."""
        minute = int(at) - int(at) % 60
        found = self._cells.get((key, minute))
        if found is None:
            self._cells[(key, minute)] = (cell.copy(), unit)
        else:
            found[0].merge(cell)
            self._cells[(key, minute)] = (found[0], unit)

    def pending(self, key: SeriesKey, start: int, end: int) -> list[Point]:
        """Points of a series not in the store yet (the current minutes)."""
        self.expand()
        out: list[Point] = []
        for batch in (self._flushing, self._cells):
            for (k, minute), (cell, _unit) in batch.items():
                if k == key and start <= minute < end:
                    out.append(Point(minute, 60, cell.copy()))
        return out

    def pending_series(self) -> dict[SeriesKey, tuple[str, int]]:
        """Series with unflushed data: their unit and newest minute."""
        self.expand()
        out: dict[SeriesKey, tuple[str, int]] = {}
        for batch in (self._flushing, self._cells):
            for (key, minute), (_cell, unit) in batch.items():
                out[key] = (unit, max(minute, out.get(key, ("", 0))[1]))
        return out

    async def flush(self) -> None:
        """Writes what has been recorded to the store, in one batch (after any in progress)."""
        async with self._flush_lock:
            self.expand()
            if not self._cells:
                return
            self._flushing, self._cells = self._cells, {}
            try:
                await asyncio.to_thread(self.store.merge, self._flushing)
            except Exception:
                log.exception("metrics: a batch could not be stored; kept for the next flush")
                for slot, (cell, unit) in self._flushing.items():
                    mine = self._cells.setdefault(slot, (Cell(), unit))
                    mine[0].merge(cell)
            finally:
                self._flushing = {}

    def flush_now(self) -> None:
        """Writes synchronously (at shutdown)."""
        self.expand()
        if self._cells:
            self.store.merge(self._cells)
            self._cells = {}

    async def run(self, interval_s: float = 5.0) -> None:
        """Flushes every `interval_s` (a task of the server's): a failed flush never ends it."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("metrics: flush failed; trying again in %.0f s", interval_s)

    @property
    def reading(self) -> asyncio.Lock:
        """Held while a query reads the store and the unflushed minutes together: no flush
        moves a batch from one to the other meanwhile."""
        return self._flush_lock

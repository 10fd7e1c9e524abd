"""One series' data in one period: count, sum, extremes, and its samples for percentiles.

A cell keeps its samples one by one (for exact percentiles) until there are too many or they
are old; then a log-scale histogram (buckets 2 % apart) stands in for them, as CloudWatch's
own percentiles are estimates.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_VALUES = 20_000  # samples kept one by one per series and minute
_BASE = math.log(1.02)
_PERCENTILE = re.compile(r"^(p|tm)(\d{1,2}(?:\.\d{1,10})?|100)$", re.IGNORECASE)
BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def bucket(value: float) -> float:
    """The histogram bucket a value falls in (its representative value)."""
    if value == 0:
        return 0.0
    magnitude = math.exp(round(math.log(abs(value)) / _BASE) * _BASE)
    return math.copysign(magnitude, value)


@dataclass
class Cell:
    """A series' samples in one period."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    values: list[float] | None = field(default_factory=list)  # None: only the histogram
    hist: dict[float, float] = field(default_factory=dict)

    def add(self, value: float, count: int = 1, keep: bool = False) -> None:
        """Takes `count` samples of `value`; `keep`: as samples, for percentiles."""
        self.count += count
        self.total += value * count
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if not keep:
            key = bucket(value)
            self.hist[key] = self.hist.get(key, 0) + count
        elif self.values is not None and len(self.values) + count <= MAX_VALUES:
            self.values.extend([value] * count)
        else:
            self.forget_values()
            key = bucket(value)
            self.hist[key] = self.hist.get(key, 0) + count

    def add_many(self, samples: tuple[float, ...]) -> None:
        """Takes samples one by one (kept for percentiles while there is room)."""
        if not samples:
            return
        self.count += len(samples)
        self.total += math.fsum(samples)
        self.minimum = min(self.minimum, min(samples))
        self.maximum = max(self.maximum, max(samples))
        if self.values is not None and len(self.values) + len(samples) <= MAX_VALUES:
            self.values.extend(samples)
            return
        self.forget_values()
        for value in samples:
            key = bucket(value)
            self.hist[key] = self.hist.get(key, 0) + 1

    def add_weighted(self, value: float, weight: float) -> None:
        """Takes a fractional count of a value (PutMetricData's Counts): histogram only."""
        self.count += weight
        self.total += value * weight
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        key = bucket(value)
        self.hist[key] = self.hist.get(key, 0) + weight

    def merge(self, other: Cell) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if other.values is None:
            self.forget_values()
        elif self.values is not None and len(self.values) + len(other.values) <= MAX_VALUES:
            self.values.extend(other.values)
        elif other.values:
            self.forget_values()
            for value in other.values:
                key = bucket(value)
                self.hist[key] = self.hist.get(key, 0) + 1
        for key, n in other.hist.items():
            self.hist[key] = self.hist.get(key, 0) + n

    def forget_values(self) -> None:
        """Folds the samples into the histogram (too many, or too old to keep)."""
        if self.values:
            for value in self.values:
                key = bucket(value)
                self.hist[key] = self.hist.get(key, 0) + 1
        self.values = None

    def copy(self) -> Cell:
        return Cell(
            self.count,
            self.total,
            self.minimum,
            self.maximum,
            None if self.values is None else list(self.values),
            dict(self.hist),
        )

    # ----- storage form ----------------------------------------------------------------------
    def packed_values(self) -> bytes | None:
        return None if self.values is None else array("d", self.values).tobytes()

    @staticmethod
    def unpack_values(blob: bytes | None) -> list[float] | None:
        if blob is None:
            return None
        values = array("d")
        values.frombytes(blob)
        return values.tolist()


def is_statistic(name: str) -> bool:
    """A statistic firebox computes: the five basic ones, pNN and tmNN."""
    return name in BASIC or valid_percentile(name) is not None


def valid_percentile(name: str) -> tuple[str, float] | None:
    """('p' or 'tm', 0–100) for an extended statistic firebox computes, else None."""
    found = _PERCENTILE.match(name)
    if not found:
        return None
    level = float(found.group(2))
    return (found.group(1).lower(), level) if 0 <= level <= 100 else None


def statistic(name: str, cells: Iterable[Cell]) -> float | None:
    """A statistic over cells merged; None when there are no samples."""
    if name in BASIC:
        return _basic(name, cells)
    merged = Cell()
    for cell in cells:
        merged.merge(cell)
    if merged.count <= 0:
        return None
    if name == "SampleCount":
        return merged.count
    if name == "Sum":
        return merged.total
    if name == "Average":
        return merged.total / merged.count
    if name == "Minimum":
        return merged.minimum
    if name == "Maximum":
        return merged.maximum
    found = valid_percentile(name)
    if found is None:
        raise ValueError(f"unknown statistic {name}")
    kind, level = found
    ordered = _ordered(merged)
    if not ordered:  # only statistic sets: no samples to rank
        return None
    ranked = sum(n for _v, n in ordered)  # (a statistic set's samples are not among them)
    if kind == "p":
        return _clamp(_rank(ordered, ranked, level), merged)
    cut = _rank(ordered, ranked, level)  # tm: the mean of the samples up to pNN
    kept = [(v, n) for v, n in ordered if v <= cut]
    n_kept = sum(n for _v, n in kept)
    return sum(v * n for v, n in kept) / n_kept if n_kept else None


def _basic(name: str, cells: Iterable[Cell]) -> float | None:
    """A basic statistic straight from the cells' counts, sums and extremes."""
    count = total = 0.0
    lo, hi = math.inf, -math.inf
    for cell in cells:
        count += cell.count
        total += cell.total
        lo = min(lo, cell.minimum)
        hi = max(hi, cell.maximum)
    if count <= 0:
        return None
    return {"SampleCount": count, "Sum": total, "Average": total / count, "Minimum": lo,
            "Maximum": hi}[name]  # fmt: skip


def _ordered(cell: Cell) -> list[tuple[float, float]]:
    """(value, count) pairs in value order: samples exactly, else histogram buckets."""
    pairs: dict[float, float] = dict(cell.hist)
    for value in cell.values or ():
        pairs[value] = pairs.get(value, 0) + 1
    return sorted(pairs.items())


def _rank(ordered: list[tuple[float, float]], count: float, level: float) -> float:
    """The nearest-rank percentile: the smallest value with at least level % at or below."""
    wanted = max(1.0, math.ceil(level / 100 * count - 1e-9))
    seen = 0.0
    for value, n in ordered:
        seen += n
        if seen >= wanted:
            return value
    return ordered[-1][0]


def _clamp(value: float, cell: Cell) -> float:
    """A bucket's value never reaches past what was seen."""
    return min(max(value, cell.minimum), cell.maximum)

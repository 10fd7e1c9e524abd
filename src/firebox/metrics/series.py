"""What a metric is: a namespace, a name and dimensions; one datum of it; CloudWatch's units."""

from __future__ import annotations

from dataclasses import dataclass

Dimensions = tuple[tuple[str, str], ...]  # sorted by name: one series, however they came

UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
})  # fmt: skip


@dataclass(frozen=True, order=True)
class SeriesKey:
    """One metric: CloudWatch tells series apart by namespace, name and dimensions."""

    namespace: str
    name: str
    dimensions: Dimensions = ()

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: dict[str, str] | None = None) -> SeriesKey:
        return cls(namespace, name, tuple(sorted((dimensions or {}).items())))

    def dimension_dict(self) -> dict[str, str]:
        return dict(self.dimensions)


@dataclass(frozen=True)
class Datum:
    """One observation (or a batch of equal ones: `count` samples of `value`)."""

    key: SeriesKey
    value: float
    unit: str = "None"
    timestamp: float = 0.0  # epoch seconds; 0: now
    count: int = 1
    # Kept one by one for exact percentiles (durations, ages, custom metrics), rather than
    # only as count, sum, minimum and maximum.
    distribution: bool = False
    # Many samples at once (a minute's durations): `value` and `count` are then unused.
    samples: tuple[float, ...] = ()

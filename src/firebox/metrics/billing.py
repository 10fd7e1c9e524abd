"""What the traffic that ran would have cost on AWS Lambda: AWS's price model (requests,
GB-seconds by the millisecond, ephemeral storage above 512 MB, provisioned concurrency, the
monthly free tier) applied to the usage the meter recorded (`Firebox/Billing`)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firebox.metrics.lambda_metrics import BILLING
from firebox.metrics.service import MetricsService

DAY = 86_400
USAGE = ("Requests", "DurationGBSeconds", "ProvisionedDurationGBSeconds",
         "EphemeralStorageGBSeconds", "ProvisionedGBSeconds")  # fmt: skip


@dataclass(frozen=True)
class ArchitecturePrices:
    """One architecture's prices, US East (N. Virginia), USD."""

    # (GB-seconds a month up to, price per GB-second), in order
    duration: tuple[tuple[float, float], ...]
    provisioned: float  # per GB-second configured
    provisioned_duration: float  # per GB-second run on provisioned environments


@dataclass(frozen=True)
class Prices:
    """A price table: AWS's published x86_64 and arm64 prices unless a file says otherwise."""

    per_million_requests: float = 0.20
    ephemeral_per_gb_second: float = 0.0000000309
    free_requests: float = 1_000_000  # a month
    free_gb_seconds: float = 400_000  # a month, of on-demand duration
    architectures: dict[str, ArchitecturePrices] = field(default_factory=lambda: {
        "x86_64": ArchitecturePrices(
            ((6e9, 0.0000166667), (15e9, 0.000015), (math.inf, 0.0000133334)),
            0.0000041667, 0.0000097222),
        "arm64": ArchitecturePrices(
            ((7.5e9, 0.0000133334), (18.75e9, 0.0000120001), (math.inf, 0.0000106667)),
            0.0000033334, 0.0000077778),
    })  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Prices:
        """A table from JSON (any field left out keeps AWS's price); ValueError if bad."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            base = cls()
            arches = dict(base.architectures)
            for name, given in raw.get("architectures", {}).items():
                old = arches.get(name, arches["x86_64"])
                tiers = given.get("duration")
                arches[name] = ArchitecturePrices(
                    tuple((float(up or math.inf), float(p)) for up, p in tiers)
                    if tiers else old.duration,
                    float(given.get("provisioned", old.provisioned)),
                    float(given.get("provisioned_duration", old.provisioned_duration)),
                )  # fmt: skip
            return cls(
                float(raw.get("per_million_requests", base.per_million_requests)),
                float(raw.get("ephemeral_per_gb_second", base.ephemeral_per_gb_second)),
                float(raw.get("free_requests", base.free_requests)),
                float(raw.get("free_gb_seconds", base.free_gb_seconds)),
                arches,
            )
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ValueError(f"price table {path}: {exc}") from None


@dataclass(frozen=True)
class Usage:
    """One function's usage on one architecture in one day."""

    day: int  # epoch seconds of the day's start (UTC)
    function: str
    architecture: str
    requests: float = 0.0
    gb_seconds: float = 0.0  # on demand
    provisioned_duration_gb_seconds: float = 0.0
    ephemeral_gb_seconds: float = 0.0
    provisioned_gb_seconds: float = 0.0


@dataclass
class Cost:
    """Usage and what it costs, for one row of the report (or its total)."""

    key: str
    requests: float = 0.0
    gb_seconds: float = 0.0
    provisioned_gb_seconds: float = 0.0
    request_cost: float = 0.0
    duration_cost: float = 0.0
    provisioned_cost: float = 0.0
    ephemeral_cost: float = 0.0
    free_tier: float = 0.0  # what the free tier took off (negative)

    @property
    def total(self) -> float:
        return (self.request_cost + self.duration_cost + self.provisioned_cost
                + self.ephemeral_cost + self.free_tier)  # fmt: skip

    def add(self, other: Cost) -> None:
        for name in (
            "requests",
            "gb_seconds",
            "provisioned_gb_seconds",
            "request_cost",
            "duration_cost",
            "provisioned_cost",
            "ephemeral_cost",
            "free_tier",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _clamped(u: Usage) -> Usage:
    """No usage is negative (recorded usage never is; a bill must not be talked down)."""
    return Usage(u.day, u.function, u.architecture, max(0.0, u.requests), max(0.0, u.gb_seconds),
                 max(0.0, u.provisioned_duration_gb_seconds), max(0.0, u.ephemeral_gb_seconds),
                 max(0.0, u.provisioned_gb_seconds))  # fmt: skip


def _month(day: int) -> tuple[int, int]:
    stamp = dt.datetime.fromtimestamp(day, dt.UTC)
    return stamp.year, stamp.month


def _tiered(prices: ArchitecturePrices, used_before: float, amount: float) -> float:
    """The price of `amount` GB-seconds after `used_before` this month, tier by tier."""
    cost, low = 0.0, 0.0
    for up_to, price in prices.duration:
        lo, hi = max(low, used_before), min(up_to, used_before + amount)
        if hi > lo:
            cost += (hi - lo) * price
        low = up_to
    return cost


def price(usage: list[Usage], prices: Prices, by: str) -> tuple[list[Cost], Cost]:
    """Rows (by "function" or "day") and their total; usage priced in time order, the free
    tier and the volume tiers counted per calendar month from the first day given."""
    rows: dict[str, Cost] = {}
    month: tuple[int, int] | None = None
    free_requests = free_gbs = 0.0
    used: dict[str, float] = {}
    usage = [_clamped(u) for u in usage]
    for u in sorted(usage, key=lambda u: (u.day, u.function, u.architecture)):
        if _month(u.day) != month:
            month = _month(u.day)
            free_requests, free_gbs, used = prices.free_requests, prices.free_gb_seconds, {}
        arch = prices.architectures.get(u.architecture, prices.architectures["x86_64"])
        c = Cost("", u.requests, u.gb_seconds + u.provisioned_duration_gb_seconds,
                 u.provisioned_gb_seconds)  # fmt: skip
        c.request_cost = u.requests / 1e6 * prices.per_million_requests
        before = used.get(u.architecture, 0.0)
        c.duration_cost = _tiered(arch, before, u.gb_seconds)
        used[u.architecture] = before + u.gb_seconds
        c.provisioned_cost = (
            u.provisioned_gb_seconds * arch.provisioned
            + u.provisioned_duration_gb_seconds * arch.provisioned_duration
        )
        c.ephemeral_cost = u.ephemeral_gb_seconds * prices.ephemeral_per_gb_second
        free_r = min(free_requests, u.requests)
        free_d = min(free_gbs, u.gb_seconds)
        free_requests -= free_r
        free_gbs -= free_d
        # the free tier's GB-seconds are the first ones: priced at the first tier's price
        c.free_tier = -(free_r / 1e6 * prices.per_million_requests
                        + _tiered(arch, before, free_d))  # fmt: skip
        key = u.function if by == "function" else dt.datetime.fromtimestamp(
            u.day, dt.UTC).strftime("%Y-%m-%d")  # fmt: skip
        rows.setdefault(key, Cost(key)).add(c)
    total = Cost("total")
    for row in rows.values():
        total.add(row)
    return [rows[k] for k in sorted(rows)], total


def day_start(at: float) -> int:
    return int(at) - int(at) % DAY


async def usage(metrics: MetricsService, start: int, end: int) -> list[Usage]:
    """The recorded usage per day, function and architecture in [start, end)."""
    rows: dict[tuple[int, str, str], dict[str, float]] = {}
    for (key, day), total in (await metrics.daily_sums(BILLING, start, end)).items():
        dims = key.dimension_dict()
        row = rows.setdefault((day, dims.get("FunctionName", ""), dims.get("Architecture", "")), {})
        row[key.name] = row.get(key.name, 0.0) + total
    return [
        Usage(day, function, arch, row.get("Requests", 0.0), row.get("DurationGBSeconds", 0.0),
              row.get("ProvisionedDurationGBSeconds", 0.0),
              row.get("EphemeralStorageGBSeconds", 0.0), row.get("ProvisionedGBSeconds", 0.0))
        for (day, function, arch), row in sorted(rows.items())
    ]  # fmt: skip

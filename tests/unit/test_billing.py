"""AWS Lambda's price model on known usage, computed by hand: requests, duration tiers, the
monthly free tier (used in time order, renewed each month), provisioned concurrency,
ephemeral storage, arm64 prices, and a price table read from JSON."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest

from firebox.metrics.billing import Prices, Usage, price

NOV_30 = calendar.timegm((2026, 11, 30, 0, 0, 0))
DEC_1 = calendar.timegm((2026, 12, 1, 0, 0, 0))
DEC_2 = DEC_1 + 86_400


def test_free_tier_is_used_in_time_order_and_renews_each_month() -> None:
    usage = [
        Usage(NOV_30, "a", "x86_64", requests=1_500_000, gb_seconds=500_000),
        Usage(DEC_1, "b", "x86_64", requests=400_000, gb_seconds=100_000),
        Usage(DEC_2, "a", "x86_64", requests=1_000_000, gb_seconds=400_000),
    ]
    rows, total = price(usage, Prices(), "day")
    assert [r.key for r in rows] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    nov, dec1, dec2 = rows
    # November: 0.5M requests and 100,000 GB-s beyond the free tier
    assert nov.total == pytest.approx(0.5 * 0.20 + 100_000 * 0.0000166667)
    assert dec1.total == pytest.approx(0.0)  # December's free tier is fresh
    # the rest of December's free tier: 0.6M requests, 300,000 GB-s
    assert dec2.total == pytest.approx(0.4 * 0.20 + 100_000 * 0.0000166667)
    assert total.total == pytest.approx(nov.total + dec2.total)
    assert total.free_tier == pytest.approx(-(2.0 * 0.20 + 800_000 * 0.0000166667))
    by_function, again = price(usage, Prices(), "function")
    assert [r.key for r in by_function] == ["a", "b"] and again.total == pytest.approx(total.total)


def test_volume_tiers_provisioned_ephemeral_and_arm() -> None:
    none = Prices(free_requests=0, free_gb_seconds=0)
    big = [Usage(DEC_1, "f", "x86_64", gb_seconds=7e9)]  # 6e9 at the first price, 1e9 next
    _, total = price(big, none, "function")
    assert total.duration_cost == pytest.approx(6e9 * 0.0000166667 + 1e9 * 0.000015)
    pc = [Usage(DEC_1, "f", "arm64", requests=10, provisioned_gb_seconds=3600,
                provisioned_duration_gb_seconds=100, ephemeral_gb_seconds=1000)]  # fmt: skip
    _, total = price(pc, none, "function")
    assert total.provisioned_cost == pytest.approx(3600 * 0.0000033334 + 100 * 0.0000077778)
    assert total.ephemeral_cost == pytest.approx(1000 * 0.0000000309)
    assert total.total == pytest.approx(total.provisioned_cost + total.ephemeral_cost + 2e-6)


def test_price_table_from_json(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"per_million_requests": 1.0, "architectures": {
        "x86_64": {"duration": [[None, 0.001]]}}}))  # fmt: skip
    prices = Prices.load(path)
    _, total = price([Usage(DEC_1, "f", "x86_64", requests=2e6, gb_seconds=1e6)],
                     prices, "function")  # fmt: skip
    assert total.total == pytest.approx(1.0 + 600_000 * 0.001)  # free tier kept
    path.write_text("{not json")
    with pytest.raises(ValueError, match="price table"):
        Prices.load(path)

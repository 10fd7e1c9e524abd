"""The log rate limit, with an injected clock: deterministic, no sleeping."""

from __future__ import annotations

from firebox.telemetry.capture import LogRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(count: int, size: int) -> list[tuple[int, str]]:
    return [(0, "x" * (size - 1)) for _ in range(count)]


def test_burst_then_rate_then_a_notice_of_what_was_dropped() -> None:
    clock = Clock()
    limit = LogRateLimit(rate=1000, burst=5000, clock=clock)
    assert len(limit.admit(lines(5, 1000))) == 5  # the burst
    assert limit.admit(lines(3, 1000)) == []  # over budget: dropped
    assert limit.dropped == 3000
    clock.now = 2.0  # two seconds refill 2,000 bytes
    kept = limit.admit(lines(1, 1000))
    assert kept[0][1] == "[firebox] 3000 bytes of log output dropped: more than 0 MiB/s"
    assert kept[1:] == lines(1, 1000)
    assert limit.dropped == 0


def test_a_quiet_function_is_never_limited() -> None:
    clock = Clock()
    limit = LogRateLimit(rate=100, burst=1000, clock=clock)
    for second in range(100):
        clock.now = float(second)
        assert len(limit.admit(lines(1, 100))) == 1

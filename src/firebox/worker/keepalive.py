"""Keep-alive policies: how long an idle environment is kept, and when one is pre-warmed.

`FixedKeepAlive` keeps every idle environment for the same time (Lambda-like; the default).
`HybridHistogramPolicy` follows "Serverless in the Wild" (Shahrad et al., USENIX ATC'20):
per function it keeps a histogram of idle times (from the end of one invocation to the
start of the next) and, once the histogram is representative, unloads the environment right
after an invocation, pre-warms a new one just before the next invocation is expected (the
5th percentile of idle times, less a margin) and keeps it until the 99th percentile (plus a
margin). Functions without a usable histogram get the fixed keep-alive.

One addition to the paper, found with the simulation in bench/keepalive_sim.py: the plan is
used only when the idle times are predictable, i.e. the 99th percentile is within a few
times the 5th. Poisson-like functions (a sparse histogram looks "representative" to the
paper's CV test) and bursty ones (seconds within a burst, hours between) otherwise got
windows of hours: more idle memory than the fixed keep-alive, for few fewer cold starts.
They keep the fixed keep-alive instead; the paper uses a time-series forecast there.

Policies are plain objects driven by explicit times, so the trace-driven simulation in
bench/ and the server use the very same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Plan:
    """What to do with a function's environment after an invocation ends."""

    prewarm_after_s: float  # 0: keep the environment; else unload now, load again after this
    keep_alive_s: float  # how long the (kept or pre-warmed) environment then stays idle


class KeepAlivePolicy(Protocol):
    """Decides idle lifetimes from what it has seen of each function."""

    name: str

    def invoked(self, key: str, start: float) -> None:
        """An invocation of the function started at `start` (seconds)."""

    def finished(self, key: str, end: float) -> Plan:
        """An invocation ended at `end`: the plan for the environment it ran in."""


@dataclass
class FixedKeepAlive:
    """Keeps every environment idle for the same time; never pre-warms."""

    keep_alive_s: float = 600.0
    name: str = "fixed"

    def invoked(self, key: str, start: float) -> None:
        pass

    def finished(self, key: str, end: float) -> Plan:
        return Plan(0.0, self.keep_alive_s)


@dataclass
class _History:
    bins: list[int]
    last_end: float | None = None
    samples: int = 0
    out_of_bounds: int = 0
    sum_squares: int = 0  # of the bin counts, kept so the CV costs nothing per invocation
    plan: Plan | None = None  # cached until the histogram has grown by a few percent
    planned_at: int = 0


@dataclass
class HybridHistogramPolicy:
    """The hybrid histogram policy of Serverless in the Wild (ATC'20), per function."""

    fallback_s: float = 600.0  # the fixed keep-alive, until a histogram is usable
    bin_s: float = 60.0  # histogram resolution (the paper: 1 minute)
    range_s: float = 4 * 3600.0  # idle times beyond this are out of bounds (the paper: 4 h)
    head_percentile: float = 5.0
    tail_percentile: float = 99.0
    margin: float = 0.10  # pre-warm 10 % early, keep 10 % longer
    min_samples: int = 10
    min_cv: float = 2.0  # a flatter histogram (CV of bin counts below this) predicts nothing
    max_out_of_bounds: float = 0.5  # share of idle times beyond the range that disables it
    max_spread: float = 3.0  # the 99th percentile may be at most this many times the 5th
    name: str = "adaptive"
    _functions: dict[str, _History] = field(default_factory=dict)

    def _history(self, key: str) -> _History:
        history = self._functions.get(key)
        if history is None:
            history = self._functions[key] = _History([0] * math.ceil(self.range_s / self.bin_s))
        return history

    def invoked(self, key: str, start: float) -> None:
        history = self._history(key)
        if history.last_end is None:
            return
        idle = max(0.0, start - history.last_end)
        history.samples += 1
        if idle >= self.range_s:
            history.out_of_bounds += 1
        else:
            index = int(idle // self.bin_s)
            history.sum_squares += 2 * history.bins[index] + 1  # (c + 1)² - c²
            history.bins[index] += 1

    def finished(self, key: str, end: float) -> Plan:
        history = self._history(key)
        history.last_end = end
        if history.plan is None or history.samples > history.planned_at * 1.05:
            history.plan, history.planned_at = self._plan(history), history.samples
        return history.plan

    def _plan(self, history: _History) -> Plan:
        fixed = Plan(0.0, self.fallback_s)
        if not self._representative(history):
            return fixed
        head = self._percentile(history, self.head_percentile, upper=False)
        tail = self._percentile(history, self.tail_percentile, upper=True)
        if head < self.bin_s or tail > self.max_spread * head:
            return fixed  # the next invocation may come at once, or cannot be foreseen
        prewarm = head * (1 - self.margin)
        return Plan(prewarm, tail * (1 + self.margin) - prewarm)

    def _representative(self, history: _History) -> bool:
        in_range = history.samples - history.out_of_bounds
        if in_range < self.min_samples:
            return False
        if history.out_of_bounds / history.samples > self.max_out_of_bounds:
            return False
        count = len(history.bins)
        mean = in_range / count
        variance = history.sum_squares / count - mean * mean
        return mean > 0 and math.sqrt(max(0.0, variance)) / mean >= self.min_cv

    def _percentile(self, history: _History, percentile: float, upper: bool) -> float:
        """The bin edge below which `percentile` % of the in-range idle times fall."""
        total = sum(history.bins)
        target = total * percentile / 100
        seen = 0
        for index, count in enumerate(history.bins):
            seen += count
            if seen >= target and count:
                return (index + (1 if upper else 0)) * self.bin_s
        return self.range_s


POLICIES = ("fixed", "adaptive")


def make(name: str, keep_alive_s: float, bin_s: float = 60.0) -> KeepAlivePolicy:
    """The policy a server runs with: "fixed" (default) or "adaptive"."""
    if name == "fixed":
        return FixedKeepAlive(keep_alive_s)
    if name == "adaptive":
        # The histogram always has the paper's 240 bins: 1 minute each covers 4 hours.
        return HybridHistogramPolicy(fallback_s=keep_alive_s, bin_s=bin_s, range_s=240 * bin_s)
    raise ValueError(f"unknown keep-alive policy {name!r}: use fixed or adaptive")

"""Lambda's metrics (`AWS/Lambda`) and the usage billing reads (`Firebox/Billing`), from what
the invoke path tells the meter.

An invoke is tallied where it belongs (its minute, function, qualifier and version): a few
additions and one append, on the invoke path. The datums are made from the tallies when the
recorder expands (every flush, query and scrape), a handful per tally rather than a dozen
per invoke, so recording costs the warm path next to nothing at any rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from firebox.metrics.recorder import Recorder
from firebox.metrics.series import Datum, SeriesKey

LAMBDA = "AWS/Lambda"
BILLING = "Firebox/Billing"
LATEST = "$LATEST"


def billed_ms(duration_ms: float) -> int:
    """Lambda bills by the millisecond, rounded up, at least 1 ms."""
    return max(1, math.ceil(duration_ms))


def _dimension_sets(name: str, qualifier: str | None, version: str) -> list[dict[str, str]]:
    """Where an invoke is counted: the account, the function, the qualifier it was invoked
    by (`Resource`), and for an alias the version that ran (`ExecutedVersion`)."""
    resource = f"{name}:{qualifier}" if qualifier else name
    sets = [{}, {"FunctionName": name}, {"FunctionName": name, "Resource": resource}]
    if qualifier and qualifier != LATEST and not qualifier.isdigit():
        sets.append({"FunctionName": name, "Resource": resource, "ExecutedVersion": version})
    return sets


def _lambda(metric: str, dims: dict[str, str], value: float, unit: str, at: float,
            count: int = 1, samples: tuple[float, ...] = ()) -> Datum:  # fmt: skip
    return Datum(SeriesKey.of(LAMBDA, metric, dims), value, unit, at, count, bool(samples),
                 samples)  # fmt: skip


@dataclass(slots=True)
class Tally:
    """The invokes of one function qualifier and version in one minute."""

    invocations: int = 0
    errors: int = 0
    durations: list[float] = field(default_factory=list)
    concurrency: int = 0  # the most in flight at once, as they started
    provisioned: int = 0
    spillover: int = 0
    utilization: float = -1.0  # the highest seen; -1: none configured
    gb_seconds: float = 0.0
    provisioned_gb_seconds: float = 0.0
    ephemeral_gb_seconds: float = 0.0


TallyKey = tuple[int, str, str | None, str, str]  # minute, name, qualifier, version, arch


def tally_datums(key: TallyKey, t: Tally) -> Iterator[Datum]:
    """A tally as CloudWatch's datums: one sample per invoke where AWS has one."""
    minute, name, qualifier, version, arch = key
    at = float(minute)
    sets = _dimension_sets(name, qualifier, version)
    samples = tuple(t.durations)
    ok = t.invocations - t.errors
    for dims in sets:
        yield _lambda("Invocations", dims, 1, "Count", at, t.invocations)
        if t.errors:
            yield _lambda("Errors", dims, 1, "Count", at, t.errors)
        if ok:
            yield _lambda("Errors", dims, 0, "Count", at, ok)
        yield _lambda("Duration", dims, 0, "Milliseconds", at, samples=samples)
    for dims in sets[1:3]:
        yield _lambda("ConcurrentExecutions", dims, t.concurrency, "Count", at)
        if t.utilization >= 0:
            yield _lambda("ProvisionedConcurrencyUtilization", dims, t.utilization, "None", at)
    for dims in sets[1:]:
        if t.provisioned:
            yield _lambda("ProvisionedConcurrencyInvocations", dims, 1, "Count", at,
                          t.provisioned)  # fmt: skip
        if t.spillover:
            yield _lambda("ProvisionedConcurrencySpilloverInvocations", dims, 1, "Count", at,
                          t.spillover)  # fmt: skip
    usage = {"FunctionName": name, "Architecture": arch}
    yield Datum(SeriesKey.of(BILLING, "Requests", usage), 1, "Count", at, t.invocations)
    for metric, amount in (("DurationGBSeconds", t.gb_seconds),
                           ("ProvisionedDurationGBSeconds", t.provisioned_gb_seconds),
                           ("EphemeralStorageGBSeconds", t.ephemeral_gb_seconds)):  # fmt: skip
        if amount:
            yield Datum(SeriesKey.of(BILLING, metric, usage), amount, "None", at)


@dataclass(frozen=True)
class Started:
    """What the meter knew as an invoke began (handed back when it ends)."""

    concurrency: int
    account: int
    unreserved: int | None


class LambdaMeter:
    """Counts invokes in flight and tallies each outcome; a source of the recorder."""

    def __init__(
        self,
        recorder: Recorder,
        reserved: Callable[[str], bool] = lambda name: False,
        provisioned: Callable[[str, str], tuple[int, int]] = lambda name, qualifier: (0, 0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recorder = recorder
        self.reserved = reserved  # does the function have reserved concurrency
        # A qualifier's provisioned concurrency: (configured, environments busy now)
        self.provisioned = provisioned
        self.clock = clock
        self._in_flight: dict[str, int] = {}
        self._account = 0
        self._unreserved = 0
        self._tallies: dict[TallyKey, Tally] = {}
        self._throttles: dict[tuple[int, str, str | None], int] = {}
        # minute → (most in flight in the account, most of them unreserved)
        self._peaks: dict[int, list[int]] = {}
        recorder.sources.append(self.drain)

    def started(self, name: str) -> Started:
        count = self._in_flight[name] = self._in_flight.get(name, 0) + 1
        self._account += 1
        unreserved: int | None = None
        if not self.reserved(name):
            self._unreserved += 1
            unreserved = self._unreserved
        return Started(count, self._account, unreserved)

    def _end(self, name: str, start: object) -> None:
        assert isinstance(start, Started)
        left = self._in_flight[name] - 1
        if left:
            self._in_flight[name] = left
        else:
            del self._in_flight[name]
        self._account -= 1
        if start.unreserved is not None:
            self._unreserved -= 1

    def throttled(self, name: str, qualifier: str | None, start: object) -> None:
        self._end(name, start)
        if not self.recorder.enabled:
            return
        now = int(self.clock())
        key = (now - now % 60, name, qualifier)
        self._throttles[key] = self._throttles.get(key, 0) + 1

    def abandoned(self, name: str, start: object) -> None:
        """It ended without an outcome (the function went, the server stops)."""
        self._end(name, start)

    def finished(
        self, name: str, qualifier: str | None, start: object, version: str, failed: bool,
        duration_ms: float, memory_mb: int, ephemeral_mb: int, architecture: str,
        on_provisioned: bool,
    ) -> None:  # fmt: skip
        self._end(name, start)
        if not self.recorder.enabled:
            return
        assert isinstance(start, Started)
        now = int(self.clock())
        minute = now - now % 60
        key = (minute, name, qualifier, version, architecture)
        t = self._tallies.get(key)
        if t is None:
            t = self._tallies[key] = Tally()
        t.invocations += 1
        t.errors += failed
        t.durations.append(duration_ms)
        if start.concurrency > t.concurrency:
            t.concurrency = start.concurrency
        seconds = billed_ms(duration_ms) / 1000
        gb_s = memory_mb / 1024 * seconds
        if on_provisioned:
            t.provisioned_gb_seconds += gb_s
        else:
            t.gb_seconds += gb_s
        if ephemeral_mb > 512:
            t.ephemeral_gb_seconds += (ephemeral_mb - 512) / 1024 * seconds
        if qualifier:
            configured, busy = self.provisioned(name, qualifier)
            if configured:
                # its own environment is busy no more, but was for this invoke
                t.utilization = max(t.utilization, min(1.0, (busy + on_provisioned) / configured))
                if on_provisioned:
                    t.provisioned += 1
                else:
                    t.spillover += 1
        peaks = self._peaks.get(minute)
        if peaks is None:
            peaks = self._peaks[minute] = [0, -1]
        if start.account > peaks[0]:
            peaks[0] = start.account
        if start.unreserved is not None and start.unreserved > peaks[1]:
            peaks[1] = start.unreserved

    def drain(self) -> Iterable[Datum]:
        """Everything tallied since the last drain, as datums (the recorder's source)."""
        tallies, self._tallies = self._tallies, {}
        throttles, self._throttles = self._throttles, {}
        peaks, self._peaks = self._peaks, {}
        out: list[Datum] = []
        for key, t in tallies.items():
            out.extend(tally_datums(key, t))
        for (minute, name, qualifier), n in throttles.items():
            for dims in _dimension_sets(name, qualifier, "")[:3]:
                out.append(_lambda("Throttles", dims, 1, "Count", float(minute), n))
        for minute, (account, unreserved) in peaks.items():
            out.append(_lambda("ConcurrentExecutions", {}, account, "Count", float(minute)))
            if unreserved >= 0:
                out.append(_lambda("UnreservedConcurrentExecutions", {}, unreserved, "Count",
                                   float(minute)))  # fmt: skip
        return out


def async_datums(metric: str, name: str, qualifier: str | None, value: float, unit: str,
                 at: float) -> Iterable[Datum]:  # fmt: skip
    """An asynchronous-invocation metric (AsyncEventsReceived, AsyncEventAge, …)."""
    for dims in _dimension_sets(name, qualifier, "")[1:3]:
        yield _lambda(metric, dims, value, unit, at, 1,
                      (value,) if metric == "AsyncEventAge" else ())  # fmt: skip

"""Lambda's metrics (`AWS/Lambda`) and the usage billing reads (`Firebox/Billing`), from what
the invoke path tells the meter. Noting an invoke is one append; the datums come later."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

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
            distribution: bool = False) -> Datum:  # fmt: skip
    return Datum(SeriesKey.of(LAMBDA, metric, dims), value, unit, at, 1, distribution)


@dataclass(frozen=True, slots=True)
class InvokeFact:
    """One finished invoke, as the meter noted it."""

    at: float
    name: str
    qualifier: str | None
    version: str
    failed: bool
    duration_ms: float
    memory_mb: int
    ephemeral_mb: int
    architecture: str
    concurrency: int  # the function's invokes in flight as it started (itself included)
    account_concurrency: int
    unreserved: int | None  # unreserved invokes in flight, when it had no reservation
    provisioned: bool  # ran on a provisioned environment
    spillover: bool  # its qualifier has provisioned concurrency, yet it ran on demand
    utilization: float | None  # provisioned environments in use / configured

    def datums(self) -> Iterator[Datum]:
        at = self.at
        sets = _dimension_sets(self.name, self.qualifier, self.version)
        for dims in sets:
            yield _lambda("Invocations", dims, 1, "Count", at)
            yield _lambda("Errors", dims, 1 if self.failed else 0, "Count", at)
            yield _lambda("Duration", dims, self.duration_ms, "Milliseconds", at, True)
        yield _lambda("ConcurrentExecutions", {}, self.account_concurrency, "Count", at)
        for dims in sets[1:3]:
            yield _lambda("ConcurrentExecutions", dims, self.concurrency, "Count", at)
        if self.unreserved is not None:
            yield _lambda("UnreservedConcurrentExecutions", {}, self.unreserved, "Count", at)
        if self.provisioned or self.spillover:
            for dims in sets[1:]:
                if self.provisioned:
                    yield _lambda("ProvisionedConcurrencyInvocations", dims, 1, "Count", at)
                else:
                    yield _lambda("ProvisionedConcurrencySpilloverInvocations", dims, 1,
                                  "Count", at)  # fmt: skip
        if self.utilization is not None:
            for dims in sets[1:3]:
                yield _lambda("ProvisionedConcurrencyUtilization", dims, self.utilization,
                              "None", at)  # fmt: skip
        yield from self._usage()

    def _usage(self) -> Iterator[Datum]:
        """What billing needs: requests and GB-seconds, by function and architecture."""
        dims = {"FunctionName": self.name, "Architecture": self.architecture}
        seconds = billed_ms(self.duration_ms) / 1000
        gb_s = self.memory_mb / 1024 * seconds
        yield Datum(SeriesKey.of(BILLING, "Requests", dims), 1, "Count", self.at)
        name = "ProvisionedDurationGBSeconds" if self.provisioned else "DurationGBSeconds"
        yield Datum(SeriesKey.of(BILLING, name, dims), gb_s, "None", self.at)
        extra_mb = max(0, self.ephemeral_mb - 512)
        if extra_mb:
            yield Datum(SeriesKey.of(BILLING, "EphemeralStorageGBSeconds", dims),
                        extra_mb / 1024 * seconds, "None", self.at)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ThrottleFact:
    at: float
    name: str
    qualifier: str | None

    def datums(self) -> Iterator[Datum]:
        for dims in _dimension_sets(self.name, self.qualifier, "")[:3]:
            yield _lambda("Throttles", dims, 1, "Count", self.at)


@dataclass(frozen=True)
class Started:
    """What the meter knew as an invoke began (handed back when it ends)."""

    concurrency: int
    account: int
    unreserved: int | None


class LambdaMeter:
    """Counts invokes in flight and notes each outcome for the recorder."""

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
        self.recorder.note(ThrottleFact(self.clock(), name, qualifier))

    def abandoned(self, name: str, start: object) -> None:
        """It ended without an outcome (the function went, the server stops)."""
        self._end(name, start)

    def finished(
        self, name: str, qualifier: str | None, start: object, version: str, failed: bool,
        duration_ms: float, memory_mb: int, ephemeral_mb: int, architecture: str,
        on_provisioned: bool,
    ) -> None:  # fmt: skip
        self._end(name, start)
        assert isinstance(start, Started)
        configured, busy = self.provisioned(name, qualifier) if qualifier else (0, 0)
        # its own environment is busy no more, but was for this invoke
        utilization = min(1.0, (busy + on_provisioned) / configured) if configured else None
        self.recorder.note(InvokeFact(
            self.clock(), name, qualifier, version, failed, duration_ms, memory_mb,
            ephemeral_mb, architecture, start.concurrency, start.account, start.unreserved,
            on_provisioned, bool(configured) and not on_provisioned, utilization,
        ))  # fmt: skip


def async_datums(metric: str, name: str, qualifier: str | None, value: float, unit: str,
                 at: float) -> Iterable[Datum]:  # fmt: skip
    """An asynchronous-invocation metric (AsyncEventsReceived, AsyncEventAge, …)."""
    for dims in _dimension_sets(name, qualifier, "")[1:3]:
        yield _lambda(metric, dims, value, unit, at, metric == "AsyncEventAge")

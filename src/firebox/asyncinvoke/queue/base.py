"""The event queue interface every backend implements, and the events it holds.

Consumers take events with a lease: an event leased is invisible to every other lease until
it is settled, released, or its lease runs out (a consumer that died), so any number of
consumers, in one process or several, share a queue without running an event twice, beyond
what at-least-once delivery allows (a consumer that dies mid-attempt). An SQS-like queue
service and event source pollers can stand on the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class NewEvent:
    """An accepted Event invocation (or a destination's record) before it is stored."""

    function_name: str
    qualifier: str | None
    payload: bytes
    request_id: str
    enqueued_at: float  # epoch seconds: the event's age counts from here
    # "invoke": run the function with the payload; destinations and DLQ entries are invokes
    # too, kept apart only for the statistics.
    kind: str = "invoke"
    # The X-Ray header the invoke runs with (its Lineage counts notified invokes in a chain).
    trace_id: str | None = None


@dataclass(frozen=True)
class QueuedEvent:
    """A stored event waiting for its next attempt."""

    id: int
    function_name: str
    qualifier: str | None
    payload: bytes
    request_id: str
    enqueued_at: float
    attempts: int  # attempts that ended in a function error (throttles do not count)
    not_before: float  # epoch seconds of the next attempt
    last_response: str | None  # JSON of the last failed attempt, for invocation records
    kind: str
    trace_id: str | None = None


@dataclass(frozen=True)
class Settlement:
    """What became of one attempt: the event leaves the queue, or waits for another one."""

    event: QueuedEvent
    # succeeded | failed | expired | dropped: removed; retried | throttled: attempted again
    outcome: str
    follow_ups: tuple[NewEvent, ...] = ()  # records for destinations, stored atomically
    attempts: int = 0
    not_before: float = 0.0
    last_response: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome not in ("retried", "throttled")


class EventQueue(Protocol):
    """Durable storage of events; every method is atomic and durable when it returns."""

    def put(self, events: list[NewEvent]) -> None:
        """Stores events in one transaction."""

    def lease(self, owner: str, now: float, limit: int, lease_s: float) -> list[QueuedEvent]:
        """Up to limit due events no one holds (or whose lease ran out), oldest first, now
        held by owner until now + lease_s."""

    def next_due(self, now: float) -> float | None:
        """When the next event becomes available to a lease (a waiting one's not_before or a
        held one's lease end), or None if the queue is empty."""

    def settle(self, settlements: list[Settlement]) -> None:
        """Applies attempts' results in one transaction, ending their leases: removes finished
        events (storing their follow-ups and counting outcomes) and reschedules the others."""

    def release(self, owner: str) -> int:
        """Ends every lease owner holds (a consumer stopping, or a restarted one's
        predecessor): those events are due again as they were. Returns how many."""

    def owners(self) -> list[str]:
        """The consumers holding leases now."""

    def purge(self, function_name: str, now: float) -> int:
        """Removes a function's events nobody holds; returns how many (a held one ends with
        its attempt)."""

    def stats(self, now: float) -> dict[str, dict[str, float]]:
        """Per function: waiting, in_flight (held), retrying, oldest (enqueued_at) and the
        outcome counters."""

    def close(self) -> None:
        """Releases the backend's connections."""

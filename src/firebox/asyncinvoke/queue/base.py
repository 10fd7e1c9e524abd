"""The event queue interface every backend implements, and the events it holds."""

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

    def due(self, now: float, limit: int, exclude: set[int]) -> list[QueuedEvent]:
        """Up to limit events whose next attempt is due, oldest first, not in exclude."""

    def next_due(self, exclude: set[int]) -> float | None:
        """When the earliest event not in exclude becomes due, or None if there is none."""

    def settle(self, settlements: list[Settlement]) -> None:
        """Applies attempts' results in one transaction: removes finished events (storing
        their follow-ups and counting outcomes) and reschedules the others."""

    def purge(self, function_name: str, exclude: set[int]) -> int:
        """Removes a function's waiting events (not those in exclude); returns how many."""

    def stats(self) -> dict[str, dict[str, float]]:
        """Per function: waiting, retrying, oldest (enqueued_at) and outcome counters."""

    def close(self) -> None:
        """Releases the backend's connections."""

"""An in-memory event queue: the stub backend, for tests and tools (nothing survives)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from firebox.asyncinvoke.queue.base import NewEvent, QueuedEvent, Settlement


@dataclass
class _Held:
    event: QueuedEvent
    owner: str | None = None
    until: float = 0.0


class MemoryEventQueue:
    """The event queue's contract (tests/unit/test_queues.py), kept in a dict."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, _Held] = {}
        self._next_id = 1
        self._outcomes: dict[tuple[str, str], int] = {}

    def put(self, events: list[NewEvent]) -> None:
        with self._lock:
            self._insert(events)

    def _insert(self, events: list[NewEvent] | tuple[NewEvent, ...]) -> None:
        for e in events:
            queued = QueuedEvent(
                self._next_id, e.function_name, e.qualifier, e.payload, e.request_id,
                e.enqueued_at, 0, e.enqueued_at, None, e.kind, e.trace_id,
            )  # fmt: skip
            self._events[self._next_id] = _Held(queued)
            self._next_id += 1

    def _order(self) -> list[_Held]:
        return sorted(self._events.values(), key=lambda h: (h.event.not_before, h.event.id))

    def lease(self, owner: str, now: float, limit: int, lease_s: float) -> list[QueuedEvent]:
        with self._lock:
            due = [h for h in self._order() if h.event.not_before <= now and h.until <= now]
            for held in due[:limit]:
                held.owner, held.until = owner, now + lease_s
            return [held.event for held in due[:limit]]

    def next_due(self, now: float) -> float | None:
        with self._lock:
            times = [h.event.not_before if h.until <= now else max(h.until, h.event.not_before)
                     for h in self._events.values()]  # fmt: skip
        return min(times) if times else None

    def settle(self, settlements: list[Settlement]) -> None:
        with self._lock:
            for item in settlements:
                event = item.event
                if item.final:
                    self._events.pop(event.id, None)
                    self._insert(item.follow_ups)
                elif event.id in self._events:
                    updated = replace(event, attempts=item.attempts, not_before=item.not_before,
                                      last_response=item.last_response)  # fmt: skip
                    self._events[event.id] = _Held(updated)
                if item.outcome != "throttled":
                    key = (event.function_name, item.outcome)
                    self._outcomes[key] = self._outcomes.get(key, 0) + 1

    def release(self, owner: str) -> int:
        with self._lock:
            held = [h for h in self._events.values() if h.owner == owner]
            for h in held:
                h.owner, h.until = None, 0.0
            return len(held)

    def owners(self) -> list[str]:
        with self._lock:
            return sorted({h.owner for h in self._events.values() if h.owner is not None})

    def purge(self, function_name: str, now: float) -> int:
        with self._lock:
            gone = [i for i, h in self._events.items()
                    if h.event.function_name == function_name and h.until <= now]  # fmt: skip
            for i in gone:
                del self._events[i]
            return len(gone)

    def stats(self, now: float) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        with self._lock:
            for held in self._events.values():
                e = held.event
                fresh = {"waiting": 0.0, "in_flight": 0.0, "retrying": 0.0, "oldest": e.enqueued_at}
                row = result.setdefault(e.function_name, fresh)
                row["in_flight" if held.until > now else "waiting"] += 1
                row["retrying"] += e.attempts > 0
                row["oldest"] = min(row["oldest"], e.enqueued_at)
            for (name, outcome), count in self._outcomes.items():
                counted = {"waiting": 0.0, "in_flight": 0.0, "retrying": 0.0}
                result.setdefault(name, counted)[outcome] = count
        return result

    def close(self) -> None:
        pass

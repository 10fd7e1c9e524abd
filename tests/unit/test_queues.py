"""Contract tests every EventQueue backend must pass: SQLite (real files) and memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firebox.asyncinvoke.queue import EventQueue, NewEvent, Settlement, SqliteEventQueue
from firebox.asyncinvoke.queue.memory import MemoryEventQueue

BACKENDS: dict[str, Callable[[Path], EventQueue]] = {
    "sqlite": lambda d: SqliteEventQueue(d / "queue.sqlite3"),
    "memory": lambda d: MemoryEventQueue(),
}
LEASE = 60.0


@pytest.fixture(params=sorted(BACKENDS))
def open_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], EventQueue]]:
    opened: list[EventQueue] = []
    memory = MemoryEventQueue()  # "reopening" the memory backend finds the same queue

    def open_() -> EventQueue:
        queue = memory if request.param == "memory" else BACKENDS[request.param](tmp_path)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        queue.close()


def event(name: str, at: float, payload: bytes = b"{}") -> NewEvent:
    return NewEvent(name, None, payload, f"req-{name}-{at}", at)


def test_due_events_come_oldest_first_and_once(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("a", 3.0), event("b", 1.0), event("c", 2.0)])
    first = queue.lease("one", now=2.5, limit=1, lease_s=LEASE)
    assert [e.function_name for e in first] == ["b"]  # "a" is not due before 3.0
    # What one consumer holds, no other gets: the next lease takes the next event.
    assert [e.function_name for e in queue.lease("two", 2.5, 10, LEASE)] == ["c"]
    assert queue.lease("two", 2.5, 10, LEASE) == []
    assert queue.next_due(2.5) == 3.0  # "a"; the held ones come back only at 62.5
    assert queue.owners() == ["one", "two"]


def test_a_lease_that_runs_out_makes_the_event_due_again(
    open_queue: Callable[[], EventQueue],
) -> None:
    """A consumer that died holds its events only until its lease ends."""
    queue = open_queue()
    queue.put([event("f", 1.0)])
    (held,) = queue.lease("dead", 1.0, 10, LEASE)
    assert queue.lease("alive", 1.0 + LEASE - 1, 10, LEASE) == []
    assert queue.next_due(2.0) == 1.0 + LEASE
    (again,) = queue.lease("alive", 1.0 + LEASE, 10, LEASE)
    assert again.id == held.id and again.attempts == 0


def test_release_gives_an_owners_events_back(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("f", 1.0), event("g", 1.0)])
    queue.lease("restarted", 1.0, 10, LEASE)
    assert queue.release("restarted") == 2 and queue.owners() == []
    assert len(queue.lease("next", 1.0, 10, LEASE)) == 2


def test_settlements_remove_reschedule_and_count(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("f", 1.0), event("f", 1.0, b"2")])
    first, second = queue.lease("c", 1.0, 10, LEASE)
    follow = NewEvent("dest", "prod", b"record", "req-d", 1.5, "destination")
    queue.settle([
        Settlement(first, "succeeded", (follow,)),
        Settlement(second, "retried", attempts=1, not_before=5.0, last_response='{"x":1}'),
    ])  # fmt: skip
    assert [e.function_name for e in queue.lease("c", 1.6, 10, LEASE)] == ["dest"]
    (retried,) = queue.lease("c", 6.0, 10, LEASE)  # its lease ended with its settlement
    assert (retried.attempts, retried.not_before, retried.last_response) == (1, 5.0, '{"x":1}')
    queue.settle([Settlement(retried, "throttled", attempts=1, not_before=7.0)])
    stats = queue.stats(now=6.5)
    assert stats["f"]["succeeded"] == 1 and stats["f"]["retried"] == 1
    assert stats["f"]["waiting"] == 1 and stats["f"]["in_flight"] == 0
    assert "throttled" not in stats["f"]
    assert stats["dest"]["waiting"] == 0 and stats["dest"]["in_flight"] == 1


def test_purge_leaves_what_is_held(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("f", 1.0), event("f", 2.0), event("g", 1.0)])
    queue.lease("c", 1.0, 1, LEASE)  # f's first, running
    assert queue.purge("f", now=2.0) == 1
    assert queue.stats(2.0)["f"] == {"waiting": 0, "in_flight": 1, "retrying": 0, "oldest": 1.0}


def test_accepted_events_survive_reopening(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("durable", 1.0, b'{"n": 1}')])
    queue.close()
    (again,) = open_queue().lease("c", 2.0, 10, LEASE)
    assert again.function_name == "durable" and again.payload == b'{"n": 1}'

"""Contract tests every EventQueue backend must pass (SQLite today), on real files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firebox.asyncinvoke.queue import EventQueue, NewEvent, Settlement, SqliteEventQueue

BACKENDS: dict[str, Callable[[Path], EventQueue]] = {
    "sqlite": lambda d: SqliteEventQueue(d / "queue.sqlite3"),
}


@pytest.fixture(params=sorted(BACKENDS))
def open_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], EventQueue]]:
    opened: list[EventQueue] = []

    def open_() -> EventQueue:
        queue = BACKENDS[request.param](tmp_path)
        opened.append(queue)
        return queue

    yield open_
    for queue in opened:
        queue.close()


def event(name: str, at: float, payload: bytes = b"{}") -> NewEvent:
    return NewEvent(name, None, payload, f"req-{name}-{at}", at)


def test_due_events_come_oldest_first_and_respect_exclusions(
    open_queue: Callable[[], EventQueue],
) -> None:
    queue = open_queue()
    queue.put([event("a", 3.0), event("b", 1.0), event("c", 2.0)])
    due = queue.due(now=2.5, limit=10, exclude=set())
    assert [e.function_name for e in due] == ["b", "c"]  # "a" is not due before 3.0
    assert [e.function_name for e in queue.due(2.5, 10, {due[0].id})] == ["c"]
    assert len(queue.due(10.0, 1, set())) == 1
    assert queue.next_due({due[0].id, due[1].id}) == 3.0


def test_settlements_remove_reschedule_and_count(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("f", 1.0), event("f", 1.0, b"2")])
    first, second = queue.due(1.0, 10, set())
    follow = NewEvent("dest", "prod", b"record", "req-d", 1.5, "destination")
    queue.settle([
        Settlement(first, "succeeded", (follow,)),
        Settlement(second, "retried", attempts=1, not_before=5.0, last_response='{"x":1}'),
    ])  # fmt: skip
    assert [e.function_name for e in queue.due(1.6, 10, set())] == ["dest"]
    (retried,) = [e for e in queue.due(6.0, 10, set()) if e.function_name == "f"]
    assert (retried.attempts, retried.not_before, retried.last_response) == (1, 5.0, '{"x":1}')
    queue.settle([Settlement(retried, "throttled", attempts=1, not_before=7.0)])
    stats = queue.stats()
    assert stats["f"]["succeeded"] == 1 and stats["f"]["retried"] == 1
    assert stats["f"]["waiting"] == 1 and "throttled" not in stats["f"]
    assert stats["dest"]["waiting"] == 1


def test_accepted_events_survive_reopening(open_queue: Callable[[], EventQueue]) -> None:
    queue = open_queue()
    queue.put([event("durable", 1.0, b'{"n": 1}')])
    queue.close()
    (again,) = open_queue().due(2.0, 10, set())
    assert again.function_name == "durable" and again.payload == b'{"n": 1}'

"""The queue store's contract, on every backend: what was applied is what loads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firebox.queues.store import (
    Delivery,
    DropExpiredDedup,
    DropMessages,
    DropQueue,
    MemoryQueueStore,
    PutDedup,
    PutMessage,
    PutQueue,
    QueueStore,
    SetDelivery,
    SqliteQueueStore,
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueStore]:
    backend: QueueStore = (
        MemoryQueueStore() if request.param == "memory" else SqliteQueueStore(tmp_path / "q.db")
    )
    yield backend
    backend.close()


def test_writes_apply_in_order_and_load_back(store: QueueStore) -> None:
    first = Delivery(1.0, 0, 0.0, "")
    store.apply([
        PutQueue("a", {"name": "a"}), PutQueue("b", {"name": "b"}),
        PutMessage("a", 1, {"body": "one"}, first), PutMessage("a", 2, {"body": "two"}, first),
        PutMessage("b", 3, {"body": "three"}, first),
        PutDedup("a", "k", 100.0, {"id": 1}), PutDedup("a", "old", 5.0, {"id": 0}),
    ])  # fmt: skip
    store.apply([SetDelivery("a", 1, Delivery(9.0, 1, 8.0, "t")), DropMessages("a", (2,)),
                 DropExpiredDedup(10.0)])  # fmt: skip
    loaded = store.load()
    assert loaded.queues == {"a": {"name": "a"}, "b": {"name": "b"}}
    assert loaded.messages["a"] == {1: ({"body": "one"}, Delivery(9.0, 1, 8.0, "t"))}
    assert loaded.dedup["a"] == {"k": (100.0, {"id": 1})}
    store.apply([DropMessages("b", None), DropQueue("a")])
    loaded = store.load()
    assert loaded.queues == {"b": {"name": "b"}}
    assert not loaded.messages.get("b") and "a" not in loaded.messages

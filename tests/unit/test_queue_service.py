"""Queue semantics that depend on time, with the clock injected: nothing here sleeps."""

from __future__ import annotations

import asyncio

import pytest

from firebox.queues.errors import SqsError
from firebox.queues.service import Outgoing, QueueService
from firebox.queues.store import MemoryQueueStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def service() -> tuple[QueueService, Clock, MemoryQueueStore]:
    clock, store = Clock(), MemoryQueueStore()
    queues = QueueService(store, "us-east-1", "000000000000", clock=clock)
    queues.load()
    return queues, clock, store


def test_retention_visibility_and_restart() -> None:
    async def go() -> None:
        queues, clock, store = service()
        queue = await queues.create_queue("q", {"MessageRetentionPeriod": "60",
                                                "VisibilityTimeout": "10"})  # fmt: skip
        await queues.send(queue, [Outgoing("a"), Outgoing("b")], "me")
        (first,) = await queues.receive(queue, 1)
        clock.now += 5
        assert [r.message.body for r in await queues.receive(queue, 10)] == ["b"]
        clock.now += 6  # a's visibility is over: it comes back, counted twice
        again = await queues.receive(queue, 10)
        assert [(r.message.body, r.message.receive_count) for r in again] == [("a", 2)]
        # A restart (a new service on the same store) sees the same deliveries.
        restarted = QueueService(store, "us-east-1", "000000000000", clock=clock)
        restarted.load()
        assert restarted.attributes(restarted.queue("q"), ["All"])[
            "ApproximateNumberOfMessagesNotVisible"] == "2"  # fmt: skip
        clock.now += 61  # past retention: both gone
        assert restarted.attributes(restarted.queue("q"), ["All"])[
            "ApproximateNumberOfMessagesNotVisible"] == "0"  # fmt: skip
        del first

    asyncio.run(go())


def test_fifo_deduplication_window_and_purge_interval() -> None:
    async def go() -> None:
        queues, clock, _ = service()
        fifo = await queues.create_queue("f.fifo", {"FifoQueue": "true"})
        sent = await queues.send(fifo, [Outgoing("x", group_id="g", dedup_id="d")], "me")
        clock.now += 299
        again = await queues.send(fifo, [Outgoing("x", group_id="g", dedup_id="d")], "me")
        assert again[0].message_id == sent[0].message_id  # type: ignore[union-attr]
        clock.now += 2  # the 5-minute window is over: a new message
        later = await queues.send(fifo, [Outgoing("x", group_id="g", dedup_id="d")], "me")
        assert later[0].message_id != sent[0].message_id  # type: ignore[union-attr]
        await queues.purge(fifo)
        clock.now += 59
        with pytest.raises(SqsError, match="every 60 seconds"):
            await queues.purge(fifo)
        clock.now += 1
        await queues.purge(fifo)

    asyncio.run(go())

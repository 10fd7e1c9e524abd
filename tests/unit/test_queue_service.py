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
        clock.now += 61  # past retention: both gone, from memory and from the store
        counts = restarted.attributes(restarted.queue("q"), ["All"])
        assert (counts["ApproximateNumberOfMessages"],
                counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")  # fmt: skip
        assert await restarted.receive(restarted.queue("q"), 10) == []
        assert not store.load().messages.get("q")
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


def test_fifo_long_polling_waits_instead_of_spinning() -> None:
    """A group blocked by its in-flight message: a waiting receive sleeps until the message's
    visibility ends (or a delete), it does not retry in a loop."""

    async def go() -> None:
        queues, _, _ = service()
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        fifo = await queues.create_queue("f.fifo", attributes)
        pair = [Outgoing("1", group_id="g"), Outgoing("2", group_id="g")]
        await queues.send(fifo, pair, "me")
        (first,) = await queues.receive(fifo, 1)
        takes = 0
        real = queues._take

        async def counted(*args: object) -> object:
            nonlocal takes
            takes += 1
            return await real(*args)  # type: ignore[arg-type]

        queues._take = counted  # type: ignore[method-assign]
        waiting = asyncio.ensure_future(queues.receive(fifo, 1, wait_s=20))
        for _ in range(50):
            await asyncio.sleep(0)
        assert not waiting.done() and takes <= 2  # asleep, not spinning
        await queues.delete(fifo, [first.receipt_handle])  # the group may go on: it wakes
        got = await asyncio.wait_for(waiting, 5)
        assert [r.message.body for r in got] == ["2"]
        assert len(fifo.heap) <= 4  # no pile of stale entries

    asyncio.run(go())


def test_a_message_is_never_handed_out_twice_in_one_receive() -> None:
    async def go() -> None:
        queues, _, _ = service()
        queue = await queues.create_queue("q", {})
        await queues.send(queue, [Outgoing("only")], "me")
        (got,) = await queues.receive(queue, 1)
        handle = got.receipt_handle
        await queues.change_visibility(queue, [(handle, 0), (handle, 0)])  # two equal entries
        again = await queues.receive(queue, 10)
        assert [r.message.body for r in again] == ["only"]
        assert again[0].message.receive_count == 2

    asyncio.run(go())


def test_a_cancelled_send_or_delete_still_matches_what_was_written() -> None:
    async def go() -> None:
        queues, _, store = service()
        queue = await queues.create_queue("q", {})
        sending = asyncio.ensure_future(queues.send(queue, [Outgoing("kept")], "me"))
        await asyncio.sleep(0)
        sending.cancel()  # the write goes ahead: so must the message in memory
        # Writes commit in order: once a later one is done, the cancelled one is too.
        await queues.send(queue, [Outgoing("later")], "me")
        assert [m.body for m in queue.messages.values()] == ["kept", "later"]
        assert len(store.load().messages["q"]) == 2
        got = await queues.receive(queue, 10, visibility=0)
        deleting = asyncio.ensure_future(queues.delete(queue, [r.receipt_handle for r in got]))
        await asyncio.sleep(0)
        deleting.cancel()
        await queues.set_attributes(queue, {"DelaySeconds": "0"})  # a later write
        assert queue.messages == {} and not store.load().messages.get("q")

    asyncio.run(go())


def test_md5_of_message_attributes_matches_the_sdks() -> None:
    """A known answer from an implementation checked against the AWS SDK for Go v2 (which
    verifies these MD5s): boto3 does not check them, so a test against it could not fail."""
    from firebox.queues.messages import md5_attributes

    assert md5_attributes({
        "ordinal": {"DataType": "Number", "StringValue": "1"},
        "category": {"DataType": "String", "StringValue": "test"},
    }) == "d21ae90c49061e927f57df5f5d72be1f"  # fmt: skip
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert md5_attributes({"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}) == (
        "5ae4d5d7636402d80f4eb6d213245a88"
    )

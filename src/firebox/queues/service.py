"""The queue service: SQS's semantics over an in-memory model that every change is written
through (queues/store.py) before it is answered.

Time comes from an injected clock; waits (long polling, messages becoming visible) are timers
on the event loop, never polls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
import hashlib
import heapq
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from firebox.queues import attributes as attrs
from firebox.queues.errors import SqsError, bad_receipt, invalid, invalid_value, missing, no_queue
from firebox.queues.messages import (
    Message,
    check_attributes,
    check_body,
    md5_attributes,
    md5_body,
)
from firebox.queues.queue import PURGE_INTERVAL_S, Queue
from firebox.queues.store import (
    Delivery,
    DropExpiredDedup,
    DropMessages,
    DropQueue,
    PutDedup,
    PutMessage,
    PutQueue,
    QueueStore,
    SetDelivery,
    Write,
)
from firebox.storage.group_commit import GroupCommit

NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
DEDUP_WINDOW_S = 300.0
RECREATE_AFTER_S = 60.0
MAX_VISIBILITY_S = 43200
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SentTimestamp",
    "SenderId", "MessageDeduplicationId", "MessageGroupId", "SequenceNumber",
    "AWSTraceHeader", "DeadLetterQueueSourceArn",
)  # fmt: skip


@dataclass(frozen=True)
class Outgoing:
    """One message to send, as SendMessage(Batch) gives it."""

    body: str
    delay: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)  # AWSTraceHeader
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True)
class Sent:
    message_id: str
    md5_body: str
    md5_attributes: str | None
    sequence_number: str | None
    md5_system: str | None = None


@dataclass(frozen=True)
class Received:
    """A message as one receive hands it out."""

    message: Message
    receipt_handle: str


class QueueService:
    """Every queue of the server (one account and region)."""

    def __init__(self, store: QueueStore, region: str, account: str,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.store = store
        self.region = region
        self.account = account
        self.clock = clock
        self._queues: dict[str, Queue] = {}
        self._deleted: dict[str, float] = {}
        self._next_seq = 0
        self._writes: GroupCommit[list[Write]] = GroupCommit(self._apply)
        self.on_send: list[Callable[[Queue], None]] = []  # pollers waiting for messages
        # Told of sends, receives and deletes as AWS/SQS metrics: (name, dimensions, value, unit)
        self.observe: Callable[[str, dict[str, str], float, str], None] | None = None

    def _apply(self, batches: list[list[Write]]) -> None:
        self.store.apply([write for batch in batches for write in batch])

    async def _write(self, *writes: Write) -> None:
        if writes:
            await self._writes.submit(list(writes))

    async def _commit(self, writes: list[Write], then: Callable[[], None]) -> None:
        """Writes, then changes memory to match, as one step a cancelled caller cannot split
        (the write goes ahead either way, so its effect must too)."""

        async def both() -> None:
            await self._write(*writes)
            then()

        await asyncio.shield(asyncio.ensure_future(both()))

    # ----- loading ------------------------------------------------------------------------------
    def load(self) -> None:
        snapshot = self.store.load()
        last = 0
        for name, doc in snapshot.queues.items():
            queue = Queue(name, self.arn(name), doc["fifo"], doc["attributes"], doc["tags"],
                          doc["created"], doc["modified"])  # fmt: skip
            for seq, (message_doc, d) in snapshot.messages.get(name, {}).items():
                message = Message.from_doc(seq, message_doc, d.visible_at, d.receive_count,
                                           d.first_receive, d.token)  # fmt: skip
                queue.messages[seq] = message
                queue.heap.append((message.visible_at, seq))
                queue.by_sent.append((message.sent, seq))
                last = max(last, seq)
            heapq.heapify(queue.heap)
            heapq.heapify(queue.by_sent)
            queue.dedup = dict(snapshot.dedup.get(name, {}))
            self._queues[name] = queue
        # Increasing across restarts too (FIFO sequence numbers are): past anything stored.
        self._next_seq = max(last + 1, int(self.clock() * 1000))

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{name}"

    # ----- queues -------------------------------------------------------------------------------
    def queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise no_queue()
        return queue

    def by_arn(self, arn: str) -> Queue | None:
        prefix = f"arn:aws:sqs:{self.region}:{self.account}:"
        return self._queues.get(arn[len(prefix) :]) if arn.startswith(prefix) else None

    def queues(self, prefix: str = "") -> builtins.list[Queue]:
        return [q for name, q in sorted(self._queues.items()) if name.startswith(prefix)]

    async def create_queue(self, name: str, attributes: dict[str, str],
                           tags: dict[str, str] | None = None) -> Queue:  # fmt: skip
        fifo = attributes.get("FifoQueue", "false").lower() == "true"
        if not (FIFO_NAME if fifo else NAME).match(name):
            raise invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix and be 1 to 80 in length."
                if fifo or name.endswith(".fifo") else
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in "
                "length"
            )  # fmt: skip
        given = {k: attrs.check(k, v, fifo) for k, v in attributes.items()}
        wanted = {**attrs.DEFAULTS, **(attrs.FIFO_DEFAULTS if fifo else {}), **given}
        if not wanted.get("RedrivePolicy"):
            wanted.pop("RedrivePolicy", None)
        existing = self._queues.get(name)
        if existing is not None:
            for key, value in given.items():
                if existing.attributes.get(key, "") != value:
                    raise SqsError("QueueNameExists", "A queue already exists with the same "
                                   f"name and a different value for attribute {key}")  # fmt: skip
            return existing
        deleted = self._deleted.get(name)
        if deleted is not None and self.clock() - deleted < RECREATE_AFTER_S:
            raise SqsError("QueueDeletedRecently", "You must wait 60 seconds after deleting a "
                           "queue before you can create another with the same name.")  # fmt: skip
        self._check_tags(tags or {})
        now = self.clock()
        queue = Queue(name, self.arn(name), fifo, wanted, dict(tags or {}), now, now)
        if wanted.get("RedrivePolicy"):
            self._check_dead_letter(queue, wanted["RedrivePolicy"])
        await self._write(PutQueue(name, queue.doc()))
        self._queues[name] = queue
        return queue

    async def delete_queue(self, queue: Queue) -> None:
        def applied() -> None:
            self._queues.pop(queue.name, None)
            self._deleted[queue.name] = self.clock()
            self._wake(queue)

        await self._commit([DropQueue(queue.name)], applied)

    def attributes(self, queue: Queue, names: Iterable[str]) -> dict[str, str]:
        """GetQueueAttributes: the names asked for (All: every one)."""
        wanted = set(names)
        for name in wanted - {"All"}:
            if name not in attrs.SETTABLE and name not in attrs.COMPUTED:
                raise SqsError("InvalidAttributeName", f"Unknown Attribute {name[:100]}.")
        now = self.clock()
        retention = queue.number("MessageRetentionPeriod")
        visible = delayed = in_flight = 0
        for message in queue.messages.values():
            if message.sent + retention <= now:
                continue  # past retention: dropped at the next receive
            if message.visible_at <= now:
                visible += 1
            elif message.receive_count:
                in_flight += 1
            else:
                delayed += 1
        every = {
            **queue.attributes,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(queue.created)),
            "LastModifiedTimestamp": str(int(queue.modified)),
            "QueueArn": queue.arn,
        }
        return every if "All" in wanted else {k: v for k, v in every.items() if k in wanted}

    async def set_attributes(self, queue: Queue, attributes: dict[str, str]) -> None:
        changed = {k: attrs.check(k, v, queue.fifo) for k, v in attributes.items()}
        if "FifoQueue" in changed and changed["FifoQueue"] != str(queue.fifo).lower():
            raise SqsError("InvalidAttributeValue", "Invalid value for the parameter "
                           "FifoQueue. Reason: Modifying queue type is not supported.")  # fmt: skip
        new = {**queue.attributes, **changed}
        if new.get("RedrivePolicy") == "":
            del new["RedrivePolicy"]
        if new.get("RedrivePolicy"):
            self._check_dead_letter(queue, new["RedrivePolicy"])
        now = self.clock()
        doc = {**queue.doc(), "attributes": new, "modified": now}

        def applied() -> None:
            queue.attributes, queue.modified = new, now
            self._wake(queue)

        await self._commit([PutQueue(queue.name, doc)], applied)

    def _check_dead_letter(self, queue: Queue, policy: str) -> None:
        target = self.by_arn(str(json.loads(policy)["deadLetterTargetArn"]))
        if target is None:
            raise SqsError("InvalidParameterValue", f"Value {policy} for parameter "
                           "RedrivePolicy is invalid. Reason: Dead letter target does not "
                           "exist.")  # fmt: skip
        if target.fifo != queue.fifo:
            raise SqsError("InvalidParameterValue", f"Value {policy} for parameter "
                           "RedrivePolicy is invalid. Reason: Dead-letter queue must be the "
                           "same type of queue as the source.")  # fmt: skip

    def _check_tags(self, tags: dict[str, str]) -> None:
        if len(tags) > 50:
            raise invalid("Too many tags added for queue. The maximum is 50.")
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise invalid(f"Tag {key[:128]} is invalid: keys are 1 to 128 characters, "
                              "values at most 256")  # fmt: skip

    async def tag(self, queue: Queue, tags: dict[str, str]) -> None:
        merged = {**queue.tags, **tags}
        self._check_tags(merged)
        await self._retag(queue, merged)

    async def untag(self, queue: Queue, keys: Iterable[str]) -> None:
        gone = set(keys)
        await self._retag(queue, {k: v for k, v in queue.tags.items() if k not in gone})

    async def _retag(self, queue: Queue, tags: dict[str, str]) -> None:
        doc = {**queue.doc(), "tags": tags}

        def applied() -> None:
            queue.tags = tags

        await self._commit([PutQueue(queue.name, doc)], applied)

    def dead_letter_sources(self, queue: Queue) -> builtins.list[Queue]:
        return [q for q in self.queues() if (q.redrive() or ("",))[0] == queue.arn]

    # ----- sending ------------------------------------------------------------------------------
    def _prepare(self, queue: Queue, item: Outgoing, sender: str, now: float) -> Message:
        check_body(item.body)
        attributes = check_attributes(item.attributes)
        if queue.fifo:
            if item.delay:
                raise invalid_value("DelaySeconds", item.delay, "The request include parameter "
                                    "that is not valid for this queue type.")  # fmt: skip
            if not item.group_id:
                raise missing("MessageGroupId")
            for label, value in (("MessageGroupId", item.group_id),
                                 ("MessageDeduplicationId", item.dedup_id)):  # fmt: skip
                if value is not None and not re.fullmatch(r"[!-~]{1,128}", value):
                    raise invalid_value(label, value, f"{label} can only include "
                                        "alphanumeric and punctuation characters. 1 to 128 in "
                                        "length.")  # fmt: skip
            if not item.dedup_id and queue.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid("The queue should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")  # fmt: skip
        elif item.dedup_id:
            raise invalid_value("MessageDeduplicationId", item.dedup_id, "The request include "
                                "parameter that is not valid for this queue type.")  # fmt: skip
        elif item.group_id and not re.fullmatch(r"[!-~]{1,128}", item.group_id):
            raise invalid_value("MessageGroupId", item.group_id, "Invalid group id")
        delay = queue.number("DelaySeconds") if item.delay is None else item.delay
        if not 0 <= delay <= 900:
            raise invalid_value("DelaySeconds", delay, "Must be >= 0 and <= 900")
        system = {}
        trace = item.system.get("AWSTraceHeader")
        if isinstance(trace, dict) and trace.get("StringValue"):
            system["AWSTraceHeader"] = str(trace["StringValue"])
        dedup = item.dedup_id
        if queue.fifo and not dedup:
            dedup = hashlib.sha256(item.body.encode()).hexdigest()
        message = Message(
            0, str(uuid.uuid4()), item.body, attributes, now, sender, md5_body(item.body),
            md5_attributes(attributes), system, now + delay, 0, 0.0, "",
            item.group_id, dedup,
        )  # fmt: skip
        limit = queue.number("MaximumMessageSize")
        if message.size() > limit:
            raise invalid(f"One or more parameters are invalid. Reason: Message must be shorter "
                          f"than {limit} bytes.")  # fmt: skip
        return message

    async def send(
        self, queue: Queue, items: builtins.list[Outgoing], sender: str
    ) -> builtins.list[Sent | SqsError]:
        """Sends each message (a batch's entries fail or succeed on their own); returns once
        the sent ones are on disk."""
        now = self.clock()
        results: list[Sent | SqsError] = []
        writes: list[Write] = []
        added: list[Message] = []
        expired = [k for k, (expires, _) in queue.dedup.items() if expires < now]
        for old in expired:
            del queue.dedup[old]
        if expired:
            writes.append(DropExpiredDedup(now))
        for item in items:
            try:
                message = self._prepare(queue, item, self._sender(sender), now)
            except SqsError as exc:
                results.append(exc)
                continue
            key = self._dedup_key(queue, message)
            if key is not None and key in queue.dedup:
                original = queue.dedup[key][1]  # a duplicate: accepted, not enqueued again
                results.append(Sent(original["message_id"], message.md5_body,
                                    message.md5_attributes,
                                    original["sequence_number"]))  # fmt: skip
                continue
            message.seq = self._next_seq
            self._next_seq += 1
            if queue.fifo:
                message.sequence_number = str(10**19 + message.seq)
            if key is not None:
                doc = {"message_id": message.message_id,
                       "sequence_number": message.sequence_number}  # fmt: skip
                queue.dedup[key] = (now + DEDUP_WINDOW_S, doc)
                writes.append(PutDedup(queue.name, key, now + DEDUP_WINDOW_S, doc))
            writes.append(PutMessage(queue.name, message.seq, message.doc(), _delivery(message)))
            added.append(message)
            trace = message.system.get("AWSTraceHeader")
            system = (
                {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}} if trace else {}
            )
            results.append(Sent(message.message_id, message.md5_body, message.md5_attributes,
                                message.sequence_number, md5_attributes(system)))  # fmt: skip

        def applied() -> None:
            for message in added:
                self._add(queue, message)
            if added:
                self._wake(queue)

        try:
            await self._commit(writes, applied)
        except Exception:
            for message in added:  # not written: not a duplicate of anything
                queue.dedup.pop(self._dedup_key(queue, message) or "", None)
            raise
        if self.observe is not None and added:
            dims = {"QueueName": queue.name}
            self.observe("NumberOfMessagesSent", dims, len(added), "Count")
            for message in added:
                self.observe("SentMessageSize", dims, len(message.body.encode()), "Bytes")
        return results

    @staticmethod
    def _add(queue: Queue, message: Message) -> None:
        queue.messages[message.seq] = message
        heapq.heappush(queue.heap, (message.visible_at, message.seq))
        heapq.heappush(queue.by_sent, (message.sent, message.seq))

    def _sender(self, sender: str) -> str:
        return sender or self.account

    def _dedup_key(self, queue: Queue, message: Message) -> str | None:
        if not queue.fifo or message.dedup_id is None:
            return None
        if queue.attributes.get("DeduplicationScope") == "messageGroup":
            return f"{message.group_id}\x00{message.dedup_id}"
        return message.dedup_id

    # ----- receiving ----------------------------------------------------------------------------
    async def receive(self, queue: Queue, limit: int, visibility: int | None = None,
                      wait_s: float | None = None) -> builtins.list[Received]:  # fmt: skip
        """Up to `limit` messages, waiting up to `wait_s` (long polling) for the first."""
        if not 1 <= limit <= 10:
            raise invalid_value("MaxNumberOfMessages", limit, "Must be between 1 and 10, if "
                                "provided.")  # fmt: skip
        if visibility is not None and not 0 <= visibility <= MAX_VISIBILITY_S:
            raise invalid_value("VisibilityTimeout", visibility, "Must be >= 0 and <= 43200")
        wait = queue.number("ReceiveMessageWaitTimeSeconds") if wait_s is None else wait_s
        if not 0 <= wait <= 20:
            raise invalid_value("WaitTimeSeconds", wait, "Must be >= 0 and <= 20")
        deadline = self.clock() + wait
        while True:
            got = await self._take(queue, limit, visibility)
            now = self.clock()
            if got or now >= deadline or queue.name not in self._queues:
                if self.observe is not None:
                    dims = {"QueueName": queue.name}
                    if got:
                        self.observe("NumberOfMessagesReceived", dims, len(got), "Count")
                    else:
                        self.observe("NumberOfEmptyReceives", dims, 1, "Count")
                return got
            await self._wait(queue, deadline - now)

    async def _wait(self, queue: Queue, at_most: float) -> None:
        """Until a message may have become receivable: a send, a visibility change, the next
        message's visibility time, or `at_most` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        queue.waiters.append(future)
        upcoming = queue.next_visible(self.clock())
        delay = at_most if upcoming is None else max(0.0, min(at_most, upcoming - self.clock()))

        def due() -> None:
            if not future.done():
                future.set_result(None)

        timer = loop.call_later(delay, due)
        try:
            await future
        finally:
            timer.cancel()
            if future in queue.waiters:
                queue.waiters.remove(future)

    def _wake(self, queue: Queue) -> None:
        for future in queue.waiters:
            if not future.done():
                future.set_result(None)
        queue.waiters.clear()
        for listener in self.on_send:
            listener(queue)

    async def _take(self, queue: Queue, limit: int, visibility: int | None) -> list[Received]:
        now = self.clock()
        expired = queue.expire(now)
        writes: list[Write] = [DropMessages(queue.name, expired)] if expired else []
        picked = queue.due(limit, now)
        timeout = queue.number("VisibilityTimeout") if visibility is None else visibility
        redrive = queue.redrive()
        target = self.by_arn(redrive[0]) if redrive else None
        out: list[Received] = []
        moved: list[tuple[Message, Message]] = []
        for message in picked:
            if redrive and target is not None and message.receive_count >= redrive[1]:
                moved.append((message, self._dead_letter(queue, message, target, writes)))
                continue
            message.receive_count += 1
            message.first_receive = message.first_receive or now
            message.received_at = now
            message.token = secrets.token_hex(8)
            message.visible_at = now + timeout
            heapq.heappush(queue.heap, (message.visible_at, message.seq))
            writes.append(SetDelivery(queue.name, message.seq, _delivery(message)))
            out.append(Received(message, _handle(queue.name, message)))

        def applied() -> None:
            if moved and target is not None:
                for original, copy in moved:
                    queue.messages.pop(original.seq, None)
                    self._add(target, copy)
                self._wake(target)

        # Receives change memory first (they must not hand a message out twice while the
        # write is in flight); a failed write leaves them as received, which they come back
        # from after their visibility timeout. A move to the dead-letter queue waits for it.
        await self._commit(writes, applied)
        return out

    def _dead_letter(self, queue: Queue, message: Message, target: Queue,
                     writes: list[Write]) -> Message:  # fmt: skip
        """Moves a message past maxReceiveCount to the dead-letter queue (as it is received):
        the writes that do it, and its copy there (put in memory once they are written)."""
        message.visible_at = float("inf")  # nobody receives it while it moves
        system = {**message.system, "DeadLetterQueueSourceArn": queue.arn}
        copy = self._copy_into(message, target, system)
        writes.append(DropMessages(queue.name, (message.seq,)))
        writes.append(PutMessage(target.name, copy.seq, copy.doc(), _delivery(copy)))
        return copy

    # ----- acknowledging ------------------------------------------------------------------------
    def _find(self, queue: Queue, handle: str) -> Message | None:
        """The message a receipt handle names, if it is still the latest receive of it (an
        outdated handle names nothing: deleting with it succeeds and deletes nothing)."""
        name, seq, token = _parse_handle(handle)
        if name != queue.name:
            raise bad_receipt(handle)
        message = queue.messages.get(seq)
        return message if message is not None and message.token == token else None

    async def delete(self, queue: Queue, handles: builtins.list[str]
                     ) -> builtins.list[SqsError | None]:  # fmt: skip
        results: list[SqsError | None] = []
        gone: list[int] = []
        for handle in handles:
            try:
                message = self._find(queue, handle)
            except SqsError as exc:
                results.append(exc)
                continue
            if message is not None and message.seq not in gone:
                gone.append(message.seq)
            results.append(None)
        if gone:

            def applied() -> None:
                for seq in gone:
                    queue.messages.pop(seq, None)
                if queue.fifo:
                    self._wake(queue)  # its group may go on

            await self._commit([DropMessages(queue.name, tuple(gone))], applied)
            if self.observe is not None:
                self.observe("NumberOfMessagesDeleted", {"QueueName": queue.name}, len(gone),
                             "Count")  # fmt: skip
        return results

    async def change_visibility(self, queue: Queue, changes: builtins.list[tuple[str, int]]
                                ) -> builtins.list[SqsError | None]:  # fmt: skip
        now = self.clock()
        results: list[SqsError | None] = []
        writes: list[Write] = []
        for handle, timeout in changes:
            try:
                message = self._find(queue, handle)
                if not 0 <= timeout <= MAX_VISIBILITY_S:
                    raise invalid_value("VisibilityTimeout", timeout, "Must be >= 0 and <= 43200")
                if message is None or message.visible_at <= now:
                    raise SqsError("MessageNotInflight", "The message referred to isn't in flight.")
                if now + timeout > message.received_at + MAX_VISIBILITY_S:
                    raise invalid_value(
                        "VisibilityTimeout", timeout,
                        "Total VisibilityTimeout for the message is beyond the limit [43200 "
                        "seconds]",
                    )  # fmt: skip
            except SqsError as exc:
                results.append(exc)
                continue
            message.visible_at = now + timeout
            heapq.heappush(queue.heap, (message.visible_at, message.seq))
            writes.append(SetDelivery(queue.name, message.seq, _delivery(message)))
            results.append(None)
        if writes:
            await self._commit(writes, lambda: self._wake(queue))
        return results

    async def purge(self, queue: Queue) -> None:
        now = self.clock()
        if now - queue.purged_at < PURGE_INTERVAL_S:
            raise SqsError("PurgeQueueInProgress", f"Only one PurgeQueue operation on "
                           f"{queue.name} is allowed every 60 seconds.")  # fmt: skip

        def applied() -> None:
            queue.messages.clear()
            queue.heap.clear()
            queue.by_sent.clear()
            queue.purged_at = now

        await self._commit([DropMessages(queue.name, None)], applied)

    # ----- moving messages between queues -----------------------------------------------------
    def _copy_into(self, message: Message, target: Queue, system: dict[str, str]) -> Message:
        """The message as a new arrival in `target` (its id and body kept, delivered afresh)."""
        copy = Message.from_doc(self._next_seq, message.doc(), self.clock(), 0, 0.0, "")
        self._next_seq += 1
        copy.system = system
        if target.fifo:
            copy.sequence_number = str(10**19 + copy.seq)
        return copy

    async def transfer(self, source: Queue, seq: int, target: Queue,
                       system: dict[str, str]) -> bool:  # fmt: skip
        """Moves a visible message to another queue, durably; False if it is not there (or
        in flight: it stays where it is)."""
        message = source.messages.get(seq)
        if message is None or message.visible_at > self.clock():
            return False
        copy = self._copy_into(message, target, system)
        put = PutMessage(target.name, copy.seq, copy.doc(), _delivery(copy))

        def applied() -> None:
            source.messages.pop(seq, None)
            self._add(target, copy)
            self._wake(target)

        await self._commit([DropMessages(source.name, (seq,)), put], applied)
        return True

    def close(self) -> None:
        self.store.close()


def _delivery(message: Message) -> Delivery:
    return Delivery(message.visible_at, message.receive_count, message.first_receive,
                    message.token)  # fmt: skip


def _handle(queue: str, message: Message) -> str:
    raw = f"{queue}\x00{message.seq}\x00{message.token}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_handle(handle: str) -> tuple[str, int, str]:
    try:
        name, seq, token = base64.urlsafe_b64decode(handle.encode()).decode().split("\x00")
        return name, int(seq), token
    except (ValueError, binascii.Error, UnicodeError):
        raise bad_receipt(handle) from None

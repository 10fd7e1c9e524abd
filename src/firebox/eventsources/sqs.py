"""An SQS queue as an event source: receives (long polling, no fixed interval), the event
record as AWS shapes it, deletes what was processed."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from firebox.eventsources.base import Record
from firebox.queues.errors import SqsError
from firebox.queues.queue import Queue
from firebox.queues.service import QueueService, Received

POLL_S = 20.0  # a long poll's wait: a message wakes it at once


class SqsSource:
    """One queue, read for one mapping."""

    def __init__(self, queues: QueueService, arn: str, region: str) -> None:
        self.queues = queues
        self.arn = arn
        self.region = region
        self._received: dict[str, Received] = {}  # record id → its receive (handle)

    def _queue(self) -> Queue:
        queue = self.queues.by_arn(self.arn)
        if queue is None:
            raise SqsError("QueueDoesNotExist", "The specified queue does not exist.")
        return queue

    async def next_batch(self, size: int, window_s: float, max_bytes: int) -> list[Record]:
        queue = self._queue()
        loop_time = self.queues.clock
        got = await self.queues.receive(queue, min(10, size), wait_s=POLL_S)
        records = [self._record(r) for r in got]
        deadline = loop_time() + window_s
        while len(records) < size and sum(r.size for r in records) < max_bytes:
            remaining = deadline - loop_time()
            if remaining <= 0:
                break
            more = await self.queues.receive(queue, min(10, size - len(records)),
                                             wait_s=min(POLL_S, remaining))  # fmt: skip
            records += [self._record(r) for r in more]
        kept: list[Record] = []
        total = 0
        for record in records:  # 6 MB per invoke: the rest go back at once
            if kept and total + record.size > max_bytes:
                await self.release([record])
                continue
            kept.append(record)
            total += record.size
        return kept

    def _record(self, received: Received) -> Record:
        message = received.message
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(int(message.sent * 1000)),
            "SenderId": message.sender,
            "ApproximateFirstReceiveTimestamp": str(int(message.first_receive * 1000)),
        }
        if message.sequence_number:
            attributes.update({"SequenceNumber": message.sequence_number,
                               "MessageGroupId": message.group_id or "",
                               "MessageDeduplicationId": message.dedup_id or ""})  # fmt: skip
        attributes.update({k: v for k, v in message.system.items() if k == "AWSTraceHeader"})
        event: dict[str, Any] = {
            "messageId": message.message_id, "receiptHandle": received.receipt_handle,
            "body": message.body, "attributes": attributes,
            "messageAttributes": {name: _attribute(a) for name, a in message.attributes.items()},
            "md5OfBody": message.md5_body, "eventSource": "aws:sqs",
            "eventSourceARN": self.arn, "awsRegion": self.region,
        }  # fmt: skip
        if message.md5_attributes:
            event["md5OfMessageAttributes"] = message.md5_attributes
        view = dict(event)
        with contextlib.suppress(ValueError):  # filters see a JSON body as the object it is
            view["body"] = json.loads(message.body)
        self._received[message.message_id] = received
        return Record(message.message_id, event, view, len(json.dumps(event)))

    async def settle(self, done: list[Record], failed: list[Record]) -> None:
        queue = self.queues.by_arn(self.arn)
        handles = [self._received.pop(r.id).receipt_handle for r in done if r.id in self._received]
        for record in failed:  # they reappear when their visibility timeout ends
            self._received.pop(record.id, None)
        if queue is not None and handles:
            for start in range(0, len(handles), 10):
                await self.queues.delete(queue, handles[start : start + 10])

    async def release(self, records: list[Record]) -> None:
        queue = self.queues.by_arn(self.arn)
        handles = [self._received.pop(r.id).receipt_handle for r in records
                   if r.id in self._received]  # fmt: skip
        if queue is not None and handles:
            await self.queues.change_visibility(queue, [(h, 0) for h in handles])


def _attribute(attribute: dict[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda's SQS event spells it (camelCase, list members too)."""
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [],
                           "dataType": attribute["DataType"]}  # fmt: skip
    if "StringValue" in attribute:
        out["stringValue"] = attribute["StringValue"]
    if "BinaryValue" in attribute:
        out["binaryValue"] = attribute["BinaryValue"]  # base64, as in the JSON event
    return out

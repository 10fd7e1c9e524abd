"""One queue's state: its messages in order, when each becomes visible, and which are due or
past their retention, as SQS picks them (the service above decides what to write)."""

from __future__ import annotations

import asyncio
import heapq
import json
from dataclasses import dataclass, field
from typing import Any

from firebox.queues.messages import Message

PURGE_INTERVAL_S = 60.0


@dataclass
class Queue:
    """One queue and its messages."""

    name: str
    arn: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    created: float
    modified: float
    messages: dict[int, Message] = field(default_factory=dict)  # seq → message, in order
    heap: list[tuple[float, int]] = field(default_factory=list)  # (visible_at, seq), lazy
    by_sent: list[tuple[float, int]] = field(default_factory=list)  # (sent, seq): retention
    dedup: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    purged_at: float = -PURGE_INTERVAL_S
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def number(self, name: str) -> int:
        return int(self.attributes[name])

    def doc(self) -> dict[str, Any]:
        return {"name": self.name, "fifo": self.fifo, "attributes": self.attributes,
                "tags": self.tags, "created": self.created, "modified": self.modified}  # fmt: skip

    def redrive(self) -> tuple[str, int] | None:
        """(dead-letter queue ARN, maxReceiveCount), if the queue has a redrive policy."""
        text = self.attributes.get("RedrivePolicy")
        if not text:
            return None
        policy = json.loads(text)
        return str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])

    def next_visible(self, now: float) -> float | None:
        """When a message next becomes visible (None: none will). A FIFO queue's visible
        messages are all behind in-flight ones of their groups when a receive found nothing:
        only a visibility time ahead (or a delete, which wakes waiters) can change that."""
        while self.heap:
            visible_at, seq = self.heap[0]
            message = self.messages.get(seq)
            stale = message is None or message.visible_at != visible_at
            if stale or (self.fifo and visible_at <= now):
                heapq.heappop(self.heap)
                continue
            return visible_at if visible_at > now else now
        return None

    def expire(self, now: float) -> tuple[int, ...]:
        """Drops messages past the retention period; returns their sequence numbers."""
        retention = self.number("MessageRetentionPeriod")
        old = []
        while self.by_sent and self.by_sent[0][0] + retention <= now:
            _, seq = heapq.heappop(self.by_sent)
            if self.messages.pop(seq, None) is not None:
                old.append(seq)
        return tuple(old)

    def due(self, limit: int, now: float) -> list[Message]:
        """Up to `limit` visible messages, in the order SQS hands them out."""
        return self._due_fifo(limit, now) if self.fifo else self._due_standard(limit, now)

    def _due_standard(self, limit: int, now: float) -> list[Message]:
        picked: list[Message] = []
        seen: set[int] = set()  # a message may have two equal entries (two changes at once)
        while self.heap and len(picked) < limit:
            visible_at, seq = self.heap[0]
            if visible_at > now:
                break
            heapq.heappop(self.heap)
            message = self.messages.get(seq)
            if message is not None and message.visible_at == visible_at and seq not in seen:
                seen.add(seq)
                picked.append(message)
        return picked

    def _due_fifo(self, limit: int, now: float) -> list[Message]:
        """In order within each group; a group with a message in flight gives none until it is
        done; as many of one group as possible before the next (as SQS returns them)."""
        groups: dict[str | None, list[Message]] = {}
        blocked: set[str | None] = set()
        for message in self.messages.values():
            group = message.group_id
            if group in blocked:
                continue
            if message.visible_at > now:
                blocked.add(group)  # in flight: its group waits
                groups.pop(group, None)
                continue
            groups.setdefault(group, []).append(message)
        picked: list[Message] = []
        for messages in groups.values():
            picked += messages[: limit - len(picked)]
            if len(picked) == limit:
                break
        return picked

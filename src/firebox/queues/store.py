"""Where queues and their messages are kept: typed writes applied atomically, by a SQLite
backend (`<data>/sqs.sqlite3`, WAL, fsync before an accepted write is answered) and a memory
one. The service keeps its working state in memory and writes every change here first
(through a group commit), so what a reply said happened survives kill -9."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    queue TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc TEXT NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL,
    first_receive REAL NOT NULL,
    token TEXT NOT NULL,
    PRIMARY KEY (queue, seq)
);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    expires REAL NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (queue, key)
);
"""
MIGRATIONS = [Migration(1, "queues, messages, FIFO deduplication", SCHEMA_1)]


@dataclass(frozen=True)
class PutQueue:
    name: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class DropQueue:
    """A queue and everything in it."""

    name: str


@dataclass(frozen=True)
class Delivery:
    """A message's delivery state (what receives and visibility changes move)."""

    visible_at: float
    receive_count: int
    first_receive: float
    token: str


@dataclass(frozen=True)
class PutMessage:
    queue: str
    seq: int
    doc: dict[str, Any]
    delivery: Delivery


@dataclass(frozen=True)
class SetDelivery:
    queue: str
    seq: int
    delivery: Delivery


@dataclass(frozen=True)
class DropMessages:
    queue: str
    seqs: tuple[int, ...] | None  # None: every message of the queue (PurgeQueue)


@dataclass(frozen=True)
class PutDedup:
    queue: str
    key: str
    expires: float
    doc: dict[str, Any]


@dataclass(frozen=True)
class DropExpiredDedup:
    before: float


Write = PutQueue | DropQueue | PutMessage | SetDelivery | DropMessages | PutDedup | DropExpiredDedup


@dataclass
class Snapshot:
    """Everything stored, as the service loads it at start."""

    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    # queue → seq → (doc, delivery)
    messages: dict[str, dict[int, tuple[dict[str, Any], Delivery]]] = field(default_factory=dict)
    dedup: dict[str, dict[str, tuple[float, dict[str, Any]]]] = field(default_factory=dict)


class QueueStore(Protocol):
    """Durable queues; `apply` is atomic: all of a batch of writes, or none."""

    def apply(self, writes: list[Write]) -> None:
        """Applies the writes in order, in one transaction, durably."""

    def load(self) -> Snapshot:
        """Everything stored."""

    def close(self) -> None:
        """Releases the backend's connections."""


class SqliteQueueStore:
    """Queues in one SQLite file of their own."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, MIGRATIONS, str(path))

    def apply(self, writes: list[Write]) -> None:
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for write in writes:
                self._one(write)

    def _one(self, write: Write) -> None:
        run = self._conn.execute
        if isinstance(write, PutQueue):
            run("INSERT INTO queues (name, doc) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET doc = excluded.doc",
                (write.name, json.dumps(write.doc)))  # fmt: skip
        elif isinstance(write, DropQueue):
            for table, column in (("queues", "name"), ("messages", "queue"), ("dedup", "queue")):
                run(f"DELETE FROM {table} WHERE {column} = ?", (write.name,))
        elif isinstance(write, PutMessage):
            d = write.delivery
            run("INSERT OR REPLACE INTO messages (queue, seq, doc, visible_at, receive_count, "
                "first_receive, token) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (write.queue, write.seq, json.dumps(write.doc), d.visible_at, d.receive_count,
                 d.first_receive, d.token))  # fmt: skip
        elif isinstance(write, SetDelivery):
            d = write.delivery
            run("UPDATE messages SET visible_at = ?, receive_count = ?, first_receive = ?, "
                "token = ? WHERE queue = ? AND seq = ?",
                (d.visible_at, d.receive_count, d.first_receive, d.token, write.queue,
                 write.seq))  # fmt: skip
        elif isinstance(write, DropMessages):
            if write.seqs is None:
                run("DELETE FROM messages WHERE queue = ?", (write.queue,))
            else:
                self._conn.executemany("DELETE FROM messages WHERE queue = ? AND seq = ?",
                                       [(write.queue, s) for s in write.seqs])  # fmt: skip
        elif isinstance(write, PutDedup):
            run("INSERT OR REPLACE INTO dedup (queue, key, expires, doc) VALUES (?, ?, ?, ?)",
                (write.queue, write.key, write.expires, json.dumps(write.doc)))  # fmt: skip
        else:
            run("DELETE FROM dedup WHERE expires < ?", (write.before,))

    def load(self) -> Snapshot:
        snapshot = Snapshot()
        with self._lock:
            for name, doc in self._conn.execute("SELECT name, doc FROM queues"):
                snapshot.queues[name] = json.loads(doc)
            for queue, seq, doc, visible, count, first, token in self._conn.execute(
                "SELECT queue, seq, doc, visible_at, receive_count, first_receive, token "
                "FROM messages ORDER BY queue, seq"
            ):
                snapshot.messages.setdefault(queue, {})[seq] = (
                    json.loads(doc),
                    Delivery(visible, count, first, token),
                )
            for queue, key, expires, doc in self._conn.execute(
                "SELECT queue, key, expires, doc FROM dedup"
            ):
                snapshot.dedup.setdefault(queue, {})[key] = (expires, json.loads(doc))
        return snapshot

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class MemoryQueueStore:
    """Queues in memory: for tests (what a restart would load is what was applied)."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()

    def apply(self, writes: list[Write]) -> None:
        s = self._snapshot
        for write in writes:
            if isinstance(write, PutQueue):
                s.queues[write.name] = json.loads(json.dumps(write.doc))
            elif isinstance(write, DropQueue):
                for table in (s.queues, s.messages, s.dedup):
                    table.pop(write.name, None)
            elif isinstance(write, PutMessage):
                s.messages.setdefault(write.queue, {})[write.seq] = (
                    json.loads(json.dumps(write.doc)),
                    write.delivery,
                )
            elif isinstance(write, SetDelivery):
                found = s.messages.get(write.queue, {}).get(write.seq)
                if found is not None:
                    s.messages[write.queue][write.seq] = (found[0], write.delivery)
            elif isinstance(write, DropMessages):
                if write.seqs is None:
                    s.messages.pop(write.queue, None)
                else:
                    for seq in write.seqs:
                        s.messages.get(write.queue, {}).pop(seq, None)
            elif isinstance(write, PutDedup):
                s.dedup.setdefault(write.queue, {})[write.key] = (write.expires, write.doc)
            else:
                for keys in s.dedup.values():
                    for key in [k for k, (expires, _) in keys.items() if expires < write.before]:
                        del keys[key]

    def load(self) -> Snapshot:
        return json_copy(self._snapshot)

    def close(self) -> None:
        pass


def json_copy(snapshot: Snapshot) -> Snapshot:
    messages = {q: dict(m) for q, m in snapshot.messages.items()}
    return Snapshot(json.loads(json.dumps(snapshot.queues)), messages,
                    {q: dict(d) for q, d in snapshot.dedup.items()})  # fmt: skip

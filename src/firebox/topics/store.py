"""Where topics, subscriptions and pending deliveries live: SQLite (`<data>/sns.sqlite3`,
WAL, fsync on commit), written in typed changes applied in one transaction each."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from firebox.storage.documents import DocumentStore, doc
from firebox.storage.migrations import Migration
from firebox.topics.records import Delivery, Subscription, Topic

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS topics (arn TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    arn TEXT PRIMARY KEY,
    topic_arn TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);
"""
MIGRATIONS = [Migration(1, "topics, subscriptions, the delivery outbox", SCHEMA_1)]


@dataclass(frozen=True)
class PutTopic:
    topic: Topic


@dataclass(frozen=True)
class DropTopic:
    """A topic and its subscriptions (deliveries already stored still go out)."""

    arn: str


@dataclass(frozen=True)
class PutSubscription:
    subscription: Subscription


@dataclass(frozen=True)
class DropSubscription:
    arn: str


@dataclass(frozen=True)
class AddDeliveries:
    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class DropDeliveries:
    ids: tuple[int, ...]


Write = PutTopic | DropTopic | PutSubscription | DropSubscription | AddDeliveries | DropDeliveries


class SqliteTopicStore(DocumentStore[Write]):
    """Topics and subscriptions (loaded whole at start) and the delivery outbox."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, MIGRATIONS, "topic store")

    def load(self) -> tuple[list[Topic], list[Subscription]]:
        topics = [Topic(**json.loads(d)) for (d,) in
                  self._rows("SELECT doc FROM topics ORDER BY arn")]  # fmt: skip
        subscriptions = [Subscription(**json.loads(d)) for (d,) in
                         self._rows("SELECT doc FROM subscriptions ORDER BY arn")]  # fmt: skip
        return topics, subscriptions

    def deliveries(self, limit: int, skip: frozenset[int] = frozenset()) -> list[Delivery]:
        """The first `limit` deliveries in order, leaving out the ids in `skip`."""
        rows = self._rows(
            "SELECT id, doc FROM deliveries WHERE id NOT IN (SELECT value FROM json_each(?)) "
            "ORDER BY id LIMIT ?", json.dumps(sorted(skip)), limit,
        )  # fmt: skip
        return [dataclasses.replace(Delivery(**json.loads(d)), id=i) for i, d in rows]

    def _apply(self, conn: sqlite3.Connection, write: Write) -> None:
        if isinstance(write, PutTopic):
            conn.execute("INSERT OR REPLACE INTO topics VALUES (?, ?)",
                         (write.topic.arn, doc(write.topic)))  # fmt: skip
        elif isinstance(write, DropTopic):
            conn.execute("DELETE FROM topics WHERE arn = ?", (write.arn,))
            conn.execute("DELETE FROM subscriptions WHERE topic_arn = ?", (write.arn,))
        elif isinstance(write, PutSubscription):
            sub = write.subscription
            conn.execute("INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?)",
                         (sub.arn, sub.topic_arn, doc(sub)))  # fmt: skip
        elif isinstance(write, DropSubscription):
            conn.execute("DELETE FROM subscriptions WHERE arn = ?", (write.arn,))
        elif isinstance(write, AddDeliveries):
            rows = []
            for delivery in write.deliveries:
                fields = dataclasses.asdict(delivery)
                del fields["id"]
                rows.append((json.dumps(fields),))
            conn.executemany("INSERT INTO deliveries (doc) VALUES (?)", rows)
        else:
            conn.executemany("DELETE FROM deliveries WHERE id = ?", [(i,) for i in write.ids])

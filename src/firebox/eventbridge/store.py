"""Where buses, rules and the outbox of sends live: SQLite (`<data>/events.sqlite3`, WAL,
fsync on commit), written in typed changes applied in one transaction each."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.eventbridge.records import Bus, Rule, Target
from firebox.sending import Send
from firebox.storage import sends
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

SCHEMA_1 = f"""
CREATE TABLE IF NOT EXISTS buses (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rules (arn TEXT PRIMARY KEY, bus TEXT NOT NULL, doc TEXT NOT NULL);
{sends.SCHEMA}
"""
MIGRATIONS = [Migration(1, "buses, rules, the outbox of sends", SCHEMA_1)]


@dataclass(frozen=True)
class PutBus:
    bus: Bus


@dataclass(frozen=True)
class DropBus:
    """A bus and its rules."""

    name: str


@dataclass(frozen=True)
class PutRule:
    rule: Rule


@dataclass(frozen=True)
class DropRule:
    arn: str


@dataclass(frozen=True)
class AddSends:
    sends: tuple[Send, ...]


@dataclass(frozen=True)
class DropSends:
    ids: tuple[int, ...]


Write = PutBus | DropBus | PutRule | DropRule | AddSends | DropSends


def _doc(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


def _rule(doc: str) -> Rule:
    fields = json.loads(doc)
    fields["targets"] = tuple(Target(**t) for t in fields["targets"])
    return Rule(**fields)


class SqliteEventStore:
    """Buses and rules (loaded whole at start) and the outbox of sends."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, MIGRATIONS, f"event store {path}")

    def load(self) -> tuple[list[Bus], list[Rule]]:
        with self._lock:
            buses = [Bus(**json.loads(d)) for (d,) in
                     self._conn.execute("SELECT doc FROM buses ORDER BY name")]  # fmt: skip
            rules = [_rule(d) for (d,) in self._conn.execute("SELECT doc FROM rules ORDER BY arn")]
        return buses, rules

    def pending(self, limit: int) -> list[Send]:
        with self._lock:
            return sends.pending(self._conn, limit)

    def apply(self, batches: list[list[Write]]) -> list[None]:
        """Applies each batch's writes, all in one transaction (fsync'd)."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for writes in batches:
                for write in writes:
                    self._apply(write)
        return [None] * len(batches)

    def _apply(self, write: Write) -> None:
        conn = self._conn
        if isinstance(write, PutBus):
            conn.execute("INSERT OR REPLACE INTO buses VALUES (?, ?)",
                         (write.bus.name, _doc(write.bus)))  # fmt: skip
        elif isinstance(write, DropBus):
            conn.execute("DELETE FROM buses WHERE name = ?", (write.name,))
            conn.execute("DELETE FROM rules WHERE bus = ?", (write.name,))
        elif isinstance(write, PutRule):
            rule = write.rule
            conn.execute("INSERT OR REPLACE INTO rules VALUES (?, ?, ?)",
                         (rule.arn, rule.bus, _doc(rule)))  # fmt: skip
        elif isinstance(write, DropRule):
            conn.execute("DELETE FROM rules WHERE arn = ?", (write.arn,))
        elif isinstance(write, AddSends):
            sends.add(conn, write.sends)
        else:
            sends.drop(conn, write.ids)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

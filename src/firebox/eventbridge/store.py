"""Where buses, rules and the outbox of sends live: SQLite (`<data>/events.sqlite3`, WAL,
fsync on commit), written in typed changes applied in one transaction each."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from firebox.eventbridge.records import Bus, Rule, Target
from firebox.sending import Send
from firebox.storage import sends
from firebox.storage.documents import DocumentStore, doc
from firebox.storage.migrations import Migration
from firebox.storage.sends import AddSends, DropSends

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


Write = PutBus | DropBus | PutRule | DropRule | AddSends | DropSends


def _rule(text: str) -> Rule:
    fields = json.loads(text)
    fields["targets"] = tuple(Target(**t) for t in fields["targets"])
    return Rule(**fields)


class SqliteEventStore(DocumentStore[Write]):
    """Buses and rules (loaded whole at start) and the outbox of sends."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, MIGRATIONS, "event store")

    def load(self) -> tuple[list[Bus], list[Rule]]:
        buses = [Bus(**json.loads(d)) for (d,) in self._rows("SELECT doc FROM buses ORDER BY name")]
        rules = [_rule(d) for (d,) in self._rows("SELECT doc FROM rules ORDER BY arn")]
        return buses, rules

    def pending(self, limit: int) -> list[Send]:
        with self._lock:
            return sends.pending(self._conn, limit)

    def _apply(self, conn: sqlite3.Connection, write: Write) -> None:
        if isinstance(write, PutBus):
            conn.execute("INSERT OR REPLACE INTO buses VALUES (?, ?)",
                         (write.bus.name, doc(write.bus)))  # fmt: skip
        elif isinstance(write, DropBus):
            conn.execute("DELETE FROM buses WHERE name = ?", (write.name,))
            conn.execute("DELETE FROM rules WHERE bus = ?", (write.name,))
        elif isinstance(write, PutRule):
            rule = write.rule
            conn.execute("INSERT OR REPLACE INTO rules VALUES (?, ?, ?)",
                         (rule.arn, rule.bus, doc(rule)))  # fmt: skip
        elif isinstance(write, DropRule):
            conn.execute("DELETE FROM rules WHERE arn = ?", (write.arn,))
        else:
            sends.apply(conn, write)

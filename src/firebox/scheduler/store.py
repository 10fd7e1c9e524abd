"""Where schedule groups, schedules (with their next fire times) and the outbox of sends
live: SQLite (`<data>/scheduler.sqlite3`, WAL, fsync on commit)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from firebox.scheduler.records import Group, Schedule
from firebox.sending import Send
from firebox.storage import sends
from firebox.storage.documents import DocumentStore, doc
from firebox.storage.migrations import Migration
from firebox.storage.sends import AddSends, DropSends

SCHEMA_1 = f"""
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedules (arn TEXT PRIMARY KEY, grp TEXT NOT NULL, doc TEXT NOT NULL);
{sends.SCHEMA}
"""
MIGRATIONS = [Migration(1, "schedule groups, schedules, the outbox of sends", SCHEMA_1)]


@dataclass(frozen=True)
class PutGroup:
    group: Group


@dataclass(frozen=True)
class DropGroup:
    """A group and its schedules."""

    name: str


@dataclass(frozen=True)
class PutSchedule:
    schedule: Schedule


@dataclass(frozen=True)
class DropSchedule:
    arn: str


Write = PutGroup | DropGroup | PutSchedule | DropSchedule | AddSends | DropSends


class SqliteScheduleStore(DocumentStore[Write]):
    """Groups and schedules (loaded whole at start) and the outbox of sends."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, MIGRATIONS, "schedule store")

    def load(self) -> tuple[list[Group], list[Schedule]]:
        groups = [Group(**json.loads(d)) for (d,) in
                  self._rows("SELECT doc FROM groups ORDER BY name")]  # fmt: skip
        schedules = [Schedule(**json.loads(d)) for (d,) in
                     self._rows("SELECT doc FROM schedules ORDER BY arn")]  # fmt: skip
        return groups, schedules

    def pending(self, limit: int) -> list[Send]:
        with self._lock:
            return sends.pending(self._conn, limit)

    def _apply(self, conn: sqlite3.Connection, write: Write) -> None:
        if isinstance(write, PutGroup):
            conn.execute("INSERT OR REPLACE INTO groups VALUES (?, ?)",
                         (write.group.name, doc(write.group)))  # fmt: skip
        elif isinstance(write, DropGroup):
            conn.execute("DELETE FROM groups WHERE name = ?", (write.name,))
            conn.execute("DELETE FROM schedules WHERE grp = ?", (write.name,))
        elif isinstance(write, PutSchedule):
            schedule = write.schedule
            conn.execute("INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)",
                         (schedule.arn, schedule.group, doc(schedule)))  # fmt: skip
        elif isinstance(write, DropSchedule):
            conn.execute("DELETE FROM schedules WHERE arn = ?", (write.arn,))
        else:
            sends.apply(conn, write)

"""Where schedule groups, schedules (with their next fire times) and the outbox of sends
live: SQLite (`<data>/scheduler.sqlite3`, WAL, fsync on commit)."""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.scheduler.records import Group, Schedule
from firebox.sending import Send
from firebox.storage import sends
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

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


@dataclass(frozen=True)
class AddSends:
    sends: tuple[Send, ...]


@dataclass(frozen=True)
class DropSends:
    ids: tuple[int, ...]


Write = PutGroup | DropGroup | PutSchedule | DropSchedule | AddSends | DropSends


def _doc(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


class SqliteScheduleStore:
    """Groups and schedules (loaded whole at start) and the outbox of sends."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, MIGRATIONS, f"schedule store {path}")

    def load(self) -> tuple[list[Group], list[Schedule]]:
        with self._lock:
            groups = [Group(**json.loads(d)) for (d,) in
                      self._conn.execute("SELECT doc FROM groups ORDER BY name")]  # fmt: skip
            schedules = [Schedule(**json.loads(d)) for (d,) in
                         self._conn.execute("SELECT doc FROM schedules ORDER BY arn")]  # fmt: skip
        return groups, schedules

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
        if isinstance(write, PutGroup):
            conn.execute("INSERT OR REPLACE INTO groups VALUES (?, ?)",
                         (write.group.name, _doc(write.group)))  # fmt: skip
        elif isinstance(write, DropGroup):
            conn.execute("DELETE FROM groups WHERE name = ?", (write.name,))
            conn.execute("DELETE FROM schedules WHERE grp = ?", (write.name,))
        elif isinstance(write, PutSchedule):
            schedule = write.schedule
            conn.execute("INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)",
                         (schedule.arn, schedule.group, _doc(schedule)))  # fmt: skip
        elif isinstance(write, DropSchedule):
            conn.execute("DELETE FROM schedules WHERE arn = ?", (write.arn,))
        elif isinstance(write, AddSends):
            sends.add(conn, write.sends)
        else:
            sends.drop(conn, write.ids)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

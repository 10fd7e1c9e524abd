"""Durable log events in SQLite, written in batches by a background thread."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

MIGRATIONS = [
    Migration(
        1,
        "log events",
        """
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    log_group TEXT NOT NULL,
    log_stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_group ON log_events (log_group, id);
""",
    ),
    # Reads go in time order, as CloudWatch's do (ids, in ingestion order, break ties).
    Migration(
        2,
        "log events read in time order",
        """
DROP INDEX IF EXISTS log_events_group;
CREATE INDEX IF NOT EXISTS log_events_time ON log_events (log_group, ts, id);
""",
    ),
    # Groups made by CreateLogGroup (or by a stack), and retention: a group with events is
    # one too, as Lambda makes its function's group with the first line.
    Migration(
        3,
        "log groups and their retention",
        """
CREATE TABLE IF NOT EXISTS log_groups (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    retention_days INTEGER
);
""",
    ),
]
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LogGroup:
    """A log group: when it was made, how long its events are kept (None: for ever)."""

    name: str
    created_ms: int
    retention_days: int | None = None
    made: bool = True  # by CreateLogGroup (or a retention); False: implied by its events


class NoSuchGroup(KeyError):
    """The group does not exist."""


class GroupExists(KeyError):
    """A group of that name exists already."""


@dataclass(frozen=True)
class LogEvent:
    """One line of a function's log."""

    log_group: str
    log_stream: str
    timestamp_ms: int
    message: str
    event_id: int = 0
    ingested_ms: int = 0

    @property
    def position(self) -> tuple[int, int]:
        """Where the event stands in a group's time order."""
        return (self.timestamp_ms, self.event_id)


@dataclass(frozen=True)
class LogPage:
    events: list[LogEvent]
    next_position: tuple[int, int] | None  # where the next page starts after; None: no more


_STOP = object()

# How long a read waits for queued writes before answering without them (the writer is
# normally milliseconds behind; a stuck disk must not hang the API).
_SETTLE_S = 2.0


class LogStore:
    """Appends never block the caller; a writer thread commits whatever has queued up."""

    def __init__(self, path: Path) -> None:
        self._path = path
        writer = connect(path, synchronous="NORMAL")
        migrate(writer, MIGRATIONS, str(path))
        self._writer = writer
        self._reader = connect(path, synchronous="NORMAL")
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # Batches queued and batches written: a read waits for what was queued before it,
        # so a caller sees its own invocation's lines (read-your-writes).
        self._queued = 0
        self._written = 0
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="firebox-logs", daemon=True)
        self._thread.start()

    def append(self, events: list[LogEvent]) -> None:
        if events:
            with self._progress:
                self._queued += 1
            self._queue.put(events)

    def _settle(self) -> None:
        """Waits until every batch queued before this call is written (bounded)."""
        with self._progress:
            target = self._queued
            self._progress.wait_for(lambda: self._written >= target, timeout=_SETTLE_S)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batches = [item]
            while True:  # drain whatever else is waiting into one transaction
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batches
            rows = [
                (e.log_group, e.log_stream, e.timestamp_ms, int(time.time() * 1000), e.message)
                for batch in batches
                if batch is not _STOP
                for e in batch  # type: ignore[attr-defined]
            ]
            if rows:
                try:
                    self._insert(rows)
                except sqlite3.Error as exc:  # logs must never take the server down
                    print(f"firebox: could not store {len(rows)} log events: {exc}", flush=True)
            with self._progress:
                self._written += sum(1 for batch in batches if batch is not _STOP)
                self._progress.notify_all()
            if stop:
                return

    def _insert(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        """One transaction per batch: the connection autocommits, and a commit per row
        rewrote the table's, the index's and the sequence's pages in the WAL every time."""
        writer = self._writer
        writer.execute("BEGIN")
        try:
            writer.executemany(
                "INSERT INTO log_events (log_group, log_stream, ts, ingested, message)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            writer.execute("ROLLBACK")
            raise
        writer.execute("COMMIT")

    def filter(
        self,
        log_group: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        streams: list[str] | None = None,
        contains: str | None = None,
        match: Callable[[str], bool] | None = None,
        after: tuple[int, int] | None = None,
        limit: int = 10000,
    ) -> LogPage:
        """Returns events of a group in time order (interleaving its streams, as CloudWatch
        does), from just after position `after`, and where to continue from; `match` (a
        filter pattern) keeps only the lines it accepts."""
        sql = ["SELECT id, log_stream, ts, message, ingested FROM log_events WHERE log_group = ?"]
        args: list[object] = [log_group]
        if start_ms is not None:
            sql.append("AND ts >= ?")
            args.append(start_ms)
        if end_ms is not None:
            sql.append("AND ts <= ?")
            args.append(end_ms)
        if streams:
            sql.append(f"AND log_stream IN ({', '.join('?' * len(streams))})")
            args.extend(streams)
        if contains:
            sql.append("AND instr(message, ?) > 0")
            args.append(contains)
        self._settle()
        found: list[LogEvent] = []
        chunk = limit + 1 if match is None else max(1000, limit + 1)
        while len(found) <= limit:
            page_sql = [*sql, "AND (ts, id) > (?, ?)" if after is not None else "",
                        "ORDER BY ts, id LIMIT ?"]  # fmt: skip
            page_args = [*args, *(after or ()), chunk]
            with self._read_lock:
                rows = self._reader.execute(" ".join(page_sql), page_args).fetchall()
            for r in rows:
                event = LogEvent(log_group, r[1], r[2], r[3], r[0], r[4])
                if match is None or match(event.message):
                    found.append(event)
                    if len(found) > limit:
                        break
            if len(rows) < chunk or match is None:
                break
            after = (rows[-1][2], rows[-1][0])  # scanned so far: the next chunk after it
        events = found[:limit]
        more = len(found) > limit and events
        return LogPage(events, events[-1].position if more else None)

    def streams(self, log_group: str) -> list[tuple[str, int, int]]:
        """Returns (stream, first ts, last ts) for each stream of a group."""
        self._settle()
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT log_stream, MIN(ts), MAX(ts) FROM log_events WHERE log_group = ? "
                "GROUP BY log_stream ORDER BY MAX(ts) DESC",
                (log_group,),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def groups(self) -> list[str]:
        return [g.name for g in self.log_groups()]

    def log_groups(self) -> list[LogGroup]:
        """Every group: those made, and those that have events (made by their first line)."""
        self._settle()
        with self._read_lock:
            made = self._reader.execute(
                "SELECT name, created, retention_days FROM log_groups"
            ).fetchall()
            logged = self._reader.execute(
                "SELECT log_group, MIN(ts) FROM log_events GROUP BY log_group"
            ).fetchall()
        found = {name: LogGroup(name, created, days) for name, created, days in made}
        for name, first in logged:
            found.setdefault(name, LogGroup(name, first, made=False))
        return [found[name] for name in sorted(found)]

    def log_group(self, name: str) -> LogGroup:
        for group in self.log_groups():
            if group.name == name:
                return group
        raise NoSuchGroup(name)

    def create_group(self, name: str, now_ms: int) -> LogGroup:
        if any(g.name == name for g in self.log_groups()):
            raise GroupExists(name)
        with self._read_lock:
            self._reader.execute("INSERT INTO log_groups (name, created) VALUES (?, ?)",
                                 (name, now_ms))  # fmt: skip
        return LogGroup(name, now_ms)

    def delete_group(self, name: str) -> None:
        """The group and every event in it."""
        self.log_group(name)  # NoSuchGroup
        self._settle()
        with self._read_lock:
            self._reader.execute("BEGIN")
            try:
                self._reader.execute("DELETE FROM log_events WHERE log_group = ?", (name,))
                self._reader.execute("DELETE FROM log_groups WHERE name = ?", (name,))
            except BaseException:
                self._reader.execute("ROLLBACK")
                raise
            self._reader.execute("COMMIT")

    def set_retention(self, name: str, days: int | None) -> None:
        """Keeps a group's events `days` days (None: for ever)."""
        group = self.log_group(name)  # NoSuchGroup
        with self._read_lock:
            self._reader.execute(
                "INSERT INTO log_groups (name, created, retention_days) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET retention_days = excluded.retention_days",
                (name, group.created_ms, days),
            )

    def purge(self, now_ms: int) -> int:
        """Deletes the events older than their group's retention; returns how many."""
        removed = 0
        for group in self.log_groups():
            if group.retention_days is None:
                continue
            cutoff = now_ms - group.retention_days * DAY_MS
            with self._read_lock:
                removed += self._reader.execute(
                    "DELETE FROM log_events WHERE log_group = ? AND ts < ?", (group.name, cutoff)
                ).rowcount
        return removed

    def close(self) -> None:
        """Writes everything queued, then closes."""
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
        self._writer.close()
        with self._read_lock:
            self._reader.close()

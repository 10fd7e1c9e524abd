"""SQLite backend of the event queue (WAL, full fsync: an accepted event is on disk)."""

from __future__ import annotations

import threading
from pathlib import Path

from firebox.asyncinvoke.queue.base import NewEvent, QueuedEvent, Settlement
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    function_name TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    request_id TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    last_response TEXT,
    kind TEXT NOT NULL DEFAULT 'invoke'
);
CREATE INDEX IF NOT EXISTS events_due ON events (not_before);
CREATE TABLE IF NOT EXISTS outcomes (
    function_name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (function_name, outcome)
);
"""
MIGRATIONS = [
    Migration(1, "events and outcome counters", SCHEMA_1),
    Migration(
        2,
        "leases",
        """
ALTER TABLE events ADD COLUMN leased_by TEXT;
ALTER TABLE events ADD COLUMN leased_until REAL NOT NULL DEFAULT 0;
""",
    ),
    Migration(3, "trace headers", "ALTER TABLE events ADD COLUMN trace_id TEXT;"),
]
COLUMNS = (
    "id, function_name, qualifier, payload, request_id, enqueued_at, attempts, not_before, "
    "last_response, kind, trace_id"
)


class SqliteEventQueue:
    """Events in one SQLite file, separate from the function store so neither waits on the other."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._level = "FULL"
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, MIGRATIONS, str(path))

    def _insert(self, events: list[NewEvent]) -> None:
        self._conn.executemany(
            "INSERT INTO events (function_name, qualifier, payload, request_id, enqueued_at, "
            "not_before, kind, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.function_name, e.qualifier, e.payload, e.request_id, e.enqueued_at,
              e.enqueued_at, e.kind, e.trace_id) for e in events],
        )  # fmt: skip

    def _durable(self, full: bool) -> None:
        # Accepting is what must survive anything, even the machine losing power: fsync.
        # Completions and retries commit without waiting for the disk (still atomic, still
        # safe from a killed server): a completion lost to a power cut only runs the event
        # again, which at-least-once delivery allows.
        level = "FULL" if full else "NORMAL"
        if self._level != level:
            self._conn.execute(f"PRAGMA synchronous={level}")
            self._level = level

    def put(self, events: list[NewEvent]) -> None:
        with self._lock, self._conn:
            self._durable(True)
            self._conn.execute("BEGIN IMMEDIATE")
            self._insert(events)

    def lease(self, owner: str, now: float, limit: int, lease_s: float) -> list[QueuedEvent]:
        with self._lock, self._conn:
            self._durable(False)  # a lease lost to a power cut is only an event due again
            self._conn.execute("BEGIN IMMEDIATE")  # no other process leases meanwhile
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM events WHERE not_before <= ? AND leased_until <= ? "
                "ORDER BY not_before, id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            self._conn.executemany(
                "UPDATE events SET leased_by = ?, leased_until = ? WHERE id = ?",
                [(owner, now + lease_s, row[0]) for row in rows],
            )
        return [QueuedEvent(*row) for row in rows]

    def next_due(self, now: float) -> float | None:
        with self._lock:
            (waiting,) = self._conn.execute(
                "SELECT MIN(not_before) FROM events WHERE leased_until <= ?", (now,)
            ).fetchone()
            (held,) = self._conn.execute(
                "SELECT MIN(MAX(leased_until, not_before)) FROM events WHERE leased_until > ?",
                (now,),
            ).fetchone()
        times = [t for t in (waiting, held) if t is not None]
        return min(times) if times else None

    def release(self, owner: str) -> int:
        with self._lock, self._conn:
            self._durable(False)
            self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(
                "UPDATE events SET leased_by = NULL, leased_until = 0 WHERE leased_by = ?",
                (owner,),
            ).rowcount

    def owners(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT leased_by FROM events WHERE leased_by IS NOT NULL"
            ).fetchall()
        return sorted(row[0] for row in rows)

    def settle(self, settlements: list[Settlement]) -> None:
        with self._lock, self._conn:
            self._durable(False)
            self._conn.execute("BEGIN IMMEDIATE")
            for item in settlements:
                event = item.event
                if item.final:
                    self._conn.execute("DELETE FROM events WHERE id = ?", (event.id,))
                    self._insert(list(item.follow_ups))
                else:
                    self._conn.execute(
                        "UPDATE events SET attempts = ?, not_before = ?, last_response = ?, "
                        "leased_by = NULL, leased_until = 0 WHERE id = ?",
                        (item.attempts, item.not_before, item.last_response, event.id),
                    )
                if item.outcome != "throttled":
                    self._count(event.function_name, item.outcome)

    def _count(self, function_name: str, outcome: str) -> None:
        self._conn.execute(
            "INSERT INTO outcomes (function_name, outcome, count) VALUES (?, ?, 1) "
            "ON CONFLICT (function_name, outcome) DO UPDATE SET count = count + 1",
            (function_name, outcome),
        )

    def purge(self, function_name: str, now: float) -> int:
        with self._lock, self._conn:
            self._durable(False)
            self._conn.execute("BEGIN IMMEDIATE")
            return self._conn.execute(
                "DELETE FROM events WHERE function_name = ? AND leased_until <= ?",
                (function_name, now),
            ).rowcount

    def stats(self, now: float) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        with self._lock:
            waiting = self._conn.execute(
                "SELECT function_name, SUM(leased_until <= ?), SUM(leased_until > ?), "
                "SUM(attempts > 0), MIN(enqueued_at) FROM events GROUP BY function_name",
                (now, now),
            ).fetchall()
            outcomes = self._conn.execute(
                "SELECT function_name, outcome, count FROM outcomes"
            ).fetchall()
        for name, count, held, retrying, oldest in waiting:
            result[name] = {"waiting": count, "in_flight": held, "retrying": retrying or 0,
                            "oldest": oldest}  # fmt: skip
        for name, outcome, count in outcomes:
            empty: dict[str, float] = {"waiting": 0, "in_flight": 0, "retrying": 0}
            result.setdefault(name, empty)[outcome] = count
        return result

    def close(self) -> None:
        with self._lock:
            self._conn.close()

"""The shape the SNS, EventBridge and Scheduler stores share: records kept as JSON documents
in SQLite (WAL, fsync on commit), loaded whole at start and changed by typed writes, each
batch of them applied in one transaction."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Generic, TypeVar

from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

W = TypeVar("W")


def doc(record: Any) -> str:
    """A record (a dataclass) as the JSON document stored for it."""
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


class DocumentStore(Generic[W]):
    """One database of documents; subclasses say how each kind of write is applied."""

    def __init__(self, path: Path, migrations: list[Migration], what: str) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, migrations, f"{what} {path}")

    def _rows(self, sql: str, *params: object) -> list[Any]:
        """A query's rows, read under the store's lock."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def apply(self, batches: list[list[W]]) -> list[None]:
        """Applies each batch's writes, all in one transaction (fsync'd)."""
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for writes in batches:
                for write in writes:
                    self._apply(self._conn, write)
        return [None] * len(batches)

    def _apply(self, conn: sqlite3.Connection, write: W) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock:
            self._conn.close()

"""Where stacks are kept: each stack one document, written after every resource it changes
(so a crash part-way leaves what was made on record), in SQLite or in memory."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol


class StackStore(Protocol):
    def get(self, name: str) -> dict[str, Any] | None: ...

    def put(self, name: str, doc: dict[str, Any]) -> None: ...

    def delete(self, name: str) -> None: ...

    def names(self) -> list[str]: ...

    def close(self) -> None: ...


class SqliteStackStore:
    """stacks.sqlite3: one row per stack; each put is committed (and synced) before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a deploy's record outlives a power cut
        self._db.execute("CREATE TABLE IF NOT EXISTS stacks (name TEXT PRIMARY KEY, doc TEXT)")
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM stacks WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, name: str, doc: dict[str, Any]) -> None:
        text = json.dumps(doc, separators=(",", ":"))
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO stacks (name, doc) VALUES (?, ?)",
                             (name, text))  # fmt: skip

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM stacks WHERE name = ?", (name,))

    def names(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT name FROM stacks ORDER BY name").fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class MemoryStackStore:
    """For tests: the same contract, nothing written."""

    def __init__(self) -> None:
        self._docs: dict[str, str] = {}

    def get(self, name: str) -> dict[str, Any] | None:
        text = self._docs.get(name)
        return None if text is None else dict(json.loads(text))

    def put(self, name: str, doc: dict[str, Any]) -> None:
        self._docs[name] = json.dumps(doc)  # a copy, as the database keeps one

    def delete(self, name: str) -> None:
        self._docs.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._docs)

    def close(self) -> None:
        pass

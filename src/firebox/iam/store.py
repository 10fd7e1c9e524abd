"""Where IAM roles live: an interface, a SQLite backend (`<data>/iam.sqlite3`) and a memory one.

A role is one JSON document (its attributes, inline policies and attached policy ARNs), keyed
by its name in lower case: IAM role names are unique regardless of case.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from firebox.storage.base import StoreConflict
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

MIGRATIONS = [
    Migration(
        1,
        "IAM roles",
        "CREATE TABLE IF NOT EXISTS roles (key TEXT PRIMARY KEY, doc TEXT NOT NULL);",
    ),
]


class RoleStore(Protocol):
    """Durable IAM roles; every method is atomic."""

    def create(self, name: str, doc: dict[str, Any]) -> None:
        """Inserts a role; raises StoreConflict if one of that name (in any case) exists."""

    def put(self, name: str, doc: dict[str, Any]) -> None:
        """Replaces a role's document."""

    def get(self, name: str) -> dict[str, Any] | None:
        """The role of that name (in any case), or None."""

    def list(self) -> list[dict[str, Any]]:
        """Every role, ordered by name."""

    def delete(self, name: str) -> bool:
        """Removes a role; says whether it existed."""

    def stamp(self) -> int:
        """A number that changes whenever any process changed a role."""

    def close(self) -> None:
        """Releases the backend's connections."""


class SqliteRoleStore:
    """Roles in a SQLite file of their own."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._writes = 0  # this connection's own commits (data_version counts the others')
        with self._lock:
            migrate(self._conn, MIGRATIONS, str(path))

    def create(self, name: str, doc: dict[str, Any]) -> None:
        with self._lock:
            try:
                self._conn.execute("INSERT INTO roles (key, doc) VALUES (?, ?)",
                                   (name.lower(), json.dumps(doc)))  # fmt: skip
            except sqlite3.IntegrityError:
                raise StoreConflict(name) from None
            self._writes += 1

    def put(self, name: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO roles (key, doc) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
                (name.lower(), json.dumps(doc)),
            )
            self._writes += 1

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT doc FROM roles WHERE key = ?", (name.lower(),))
            found = row.fetchone()
        return json.loads(found[0]) if found else None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM roles ORDER BY key").fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, name: str) -> bool:
        with self._lock:
            gone = self._conn.execute("DELETE FROM roles WHERE key = ?", (name.lower(),))
            self._writes += 1
            return gone.rowcount > 0

    def stamp(self) -> int:
        with self._lock:
            (version,) = self._conn.execute("PRAGMA data_version").fetchone()
            return int(version) * 1_000_000 + self._writes

    def close(self) -> None:
        self._conn.close()


class MemoryRoleStore:
    """Roles in memory: for tests, and for servers that keep nothing."""

    def __init__(self) -> None:
        self._roles: dict[str, dict[str, Any]] = {}
        self._stamp = 0

    def create(self, name: str, doc: dict[str, Any]) -> None:
        if name.lower() in self._roles:
            raise StoreConflict(name)
        self.put(name, doc)

    def put(self, name: str, doc: dict[str, Any]) -> None:
        self._roles[name.lower()] = copy.deepcopy(doc)
        self._stamp += 1

    def get(self, name: str) -> dict[str, Any] | None:
        found = self._roles.get(name.lower())
        return copy.deepcopy(found) if found is not None else None

    def list(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self._roles[k]) for k in sorted(self._roles)]

    def delete(self, name: str) -> bool:
        self._stamp += 1
        return self._roles.pop(name.lower(), None) is not None

    def stamp(self) -> int:
        return self._stamp

    def close(self) -> None:
        pass

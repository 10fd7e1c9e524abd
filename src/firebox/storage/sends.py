"""The `sends` table: an outbox of Send records (sending.py), in whichever service's database
stores the change that caused them, so both land in one transaction."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass

from firebox.sending import Send

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sends (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);"
)


def add(conn: sqlite3.Connection, sends: tuple[Send, ...] | list[Send]) -> None:
    rows = []
    for send in sends:
        doc = dataclasses.asdict(send)
        del doc["id"]
        rows.append((json.dumps(doc, separators=(",", ":")),))
    conn.executemany("INSERT INTO sends (doc) VALUES (?)", rows)


def pending(conn: sqlite3.Connection, limit: int) -> list[Send]:
    rows = conn.execute("SELECT id, doc FROM sends ORDER BY id LIMIT ?", (limit,)).fetchall()
    return [Send(**{**json.loads(doc), "id": i}) for i, doc in rows]


def drop(conn: sqlite3.Connection, ids: list[int] | tuple[int, ...]) -> None:
    conn.executemany("DELETE FROM sends WHERE id = ?", [(i,) for i in ids])


@dataclass(frozen=True)
class AddSends:
    """A store's write: sends into its outbox."""

    sends: tuple[Send, ...]


@dataclass(frozen=True)
class DropSends:
    """A store's write: sends handed over, out of its outbox."""

    ids: tuple[int, ...]


def apply(conn: sqlite3.Connection, write: object) -> bool:
    """Applies an outbox write; False if `write` is none."""
    if isinstance(write, AddSends):
        add(conn, write.sends)
    elif isinstance(write, DropSends):
        drop(conn, write.ids)
    else:
        return False
    return True

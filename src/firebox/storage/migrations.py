"""Versioned schema changes for firebox's SQLite databases.

Each database records the version of its schema in SQLite's `user_version`. A migration is
the SQL that takes version n-1 to n; opening a database applies the ones it lacks, each in
its own transaction with its version number, so a crash between two leaves a consistent
database that the next start takes further. Version 1 of each database is the schema as
releases before migrations wrote it (all `IF NOT EXISTS`): those databases, at
`user_version` 0, go through it without change and are numbered. A database newer than the
code is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """What takes a database's schema to `version`."""

    version: int
    description: str
    sql: str


def version(conn: sqlite3.Connection) -> int:
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    return int(found)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], what: str) -> int:
    """Applies the migrations a database lacks (the caller serialises access); returns the
    version it had. RuntimeError for a database of a newer firebox."""
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(migrations) + 1)):
        raise ValueError(f"{what}: migrations must be numbered 1, 2, 3 … in order")
    had = version(conn)
    if had > len(migrations):
        raise RuntimeError(
            f"{what} has schema version {had}, newer than this firebox knows ({len(migrations)}):"
            " it was written by a newer release"
        )
    for step in migrations[had:]:
        # executescript commits whatever is open first, so the transaction is the script's own.
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{step.sql}\nPRAGMA user_version = {step.version};\nCOMMIT;"
            )
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return had

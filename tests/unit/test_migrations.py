"""Versioned schema migrations, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from firebox.storage.migrations import Migration, migrate, version


def test_a_failed_migration_leaves_the_last_good_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    good = Migration(1, "a table", "CREATE TABLE t (x INTEGER);")
    broken = Migration(
        2, "half a change", "ALTER TABLE t ADD COLUMN y; INSERT INTO nowhere VALUES (1);"
    )
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [good, broken], "test")
    assert version(conn) == 1
    assert [row[1] for row in conn.execute("PRAGMA table_info(t)")] == ["x"]  # no column y
    fixed = Migration(2, "the change", "ALTER TABLE t ADD COLUMN y;")
    assert migrate(conn, [good, fixed], "test") == 1
    assert version(conn) == 2

"""SQLite backend of the function store (the default; WAL mode, full fsync on commit)."""

from __future__ import annotations

import builtins
import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from firebox.domain.layers import LayerUse, LayerVersion
from firebox.domain.records import AliasRecord, FunctionRecord
from firebox.storage.base import Change, StoreConflict
from firebox.storage.migrations import Migration, migrate

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    revision_id TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS functions_code ON functions (code_sha256);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    code_sha256 TEXT NOT NULL,
    code_size INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS versions_code ON versions (code_sha256);
CREATE TABLE IF NOT EXISTS version_counters (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    function_name TEXT NOT NULL,
    name TEXT NOT NULL,
    revision_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (function_name, name)
);
CREATE TABLE IF NOT EXISTS event_configs (
    function_name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (function_name, qualifier)
);
CREATE TABLE IF NOT EXISTS provisioned (
    function_name TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    requested INTEGER NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (function_name, qualifier)
);
CREATE TABLE IF NOT EXISTS function_urls (
    url_id TEXT PRIMARY KEY,
    function_name TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS http_routes (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts (
    function_name TEXT NOT NULL,
    alias TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (function_name, alias)
);
"""
# The change feed: every write to these tables, by any process, leaves a row saying what
# changed, in the same transaction; readers (Catalog.refresh) catch up from the last row
# they saw. (With PostgreSQL, LISTEN/NOTIFY on the same insert wakes them instead of a poll.)
_WATCHED = {  # table: (kind, the column naming the function, the column naming what in it)
    "functions": ("function", "name", "NULL"),
    "versions": ("version", "name", "version"),
    "aliases": ("alias", "function_name", "name"),
    "event_configs": ("event_config", "function_name", "qualifier"),
    "function_urls": ("function_url", "function_name", "url_id"),
    "http_routes": ("route", "id", "NULL"),
}
SCHEMA_2 = (
    "CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "kind TEXT NOT NULL, name TEXT NOT NULL, item TEXT);\n"
    + "".join(
        f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()} AFTER {event} ON {table} BEGIN "
        f"INSERT INTO changes (kind, name, item) VALUES "
        f"('{kind}', {row}.{name}, {'NULL' if item == 'NULL' else f'{row}.{item}'}); END;\n"
        for table, (kind, name, item) in _WATCHED.items()
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    )
)
SCHEMA_3 = (
    "CREATE TABLE IF NOT EXISTS policies (function_name TEXT NOT NULL, qualifier TEXT NOT NULL, "
    "doc TEXT NOT NULL, PRIMARY KEY (function_name, qualifier));\n"
    + "".join(
        f"CREATE TRIGGER IF NOT EXISTS policies_{event.lower()} AFTER {event} ON policies BEGIN "
        f"INSERT INTO changes (kind, name, item) VALUES "
        f"('policy', {row}.function_name, {row}.qualifier); END;\n"
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    )
)
SCHEMA_4 = (
    "CREATE TABLE IF NOT EXISTS event_source_mappings (uuid TEXT PRIMARY KEY, doc TEXT NOT NULL);\n"
    + "".join(
        f"CREATE TRIGGER IF NOT EXISTS mappings_{event.lower()} AFTER {event} ON "
        f"event_source_mappings BEGIN INSERT INTO changes (kind, name, item) VALUES "
        f"('mapping', {row}.uuid, NULL); END;\n"
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    )
)
SCHEMA_5 = """
CREATE TABLE IF NOT EXISTS layer_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    code_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS layer_versions_code ON layer_versions (code_sha256);
CREATE TABLE IF NOT EXISTS layer_counters (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""
MIGRATIONS = [
    Migration(1, "functions, versions, aliases and their configurations", SCHEMA_1),
    Migration(2, "a change feed of functions, versions, aliases and configs", SCHEMA_2),
    Migration(3, "functions' resource-based policies", SCHEMA_3),
    Migration(4, "event source mappings", SCHEMA_4),
    Migration(5, "layer versions", SCHEMA_5),
]
CHANGES_KEPT = 100_000  # older rows go: a reader that far behind loads everything again


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Opens a database in WAL mode, shared by threads under the caller's lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _to_doc(record: FunctionRecord) -> str:
    return _to_json(record)


def _to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


def _from_doc(doc: str) -> FunctionRecord:
    data: dict[str, Any] = json.loads(doc)
    data["architectures"] = tuple(data.get("architectures", ("x86_64",)))
    data["layers"] = tuple(LayerUse(**use) for use in data.get("layers", ()))
    known = {f.name for f in dataclasses.fields(FunctionRecord)}
    return FunctionRecord(**{k: v for k, v in data.items() if k in known})


def _layer_from_doc(doc: str) -> LayerVersion:
    data: dict[str, Any] = json.loads(doc)
    for key in ("compatible_runtimes", "compatible_architectures"):
        data[key] = tuple(data.get(key, ()))
    return LayerVersion(**data)


def _alias_doc(alias: AliasRecord) -> str:
    return json.dumps(dataclasses.asdict(alias), separators=(",", ":"))


def _alias_from_doc(doc: str) -> AliasRecord:
    return AliasRecord(**json.loads(doc))


class SqliteFunctionStore:
    """Function records in one SQLite file; documents are JSON so fields can grow."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._lock = threading.Lock()
        with self._lock:
            migrate(self._conn, MIGRATIONS, str(path))

    def _row(self, sql: str, *args: object) -> Any:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def create(self, record: FunctionRecord) -> None:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO functions (name, revision_id, code_sha256, code_size, doc) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (record.name, record.revision_id, record.code_sha256, record.code_size,
                     _to_doc(record)),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise StoreConflict(record.name) from None

    def get(self, name: str) -> FunctionRecord | None:
        row = self._row("SELECT doc FROM functions WHERE name = ?", name)
        return _from_doc(row[0]) if row else None

    def list(self, after: str | None, limit: int) -> list[FunctionRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM functions WHERE name > ? ORDER BY name LIMIT ?",
                (after or "", limit),
            ).fetchall()
        return [_from_doc(r[0]) for r in rows]

    def replace(self, record: FunctionRecord, expected_revision: str) -> None:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE functions SET revision_id = ?, code_sha256 = ?, code_size = ?, doc = ? "
                "WHERE name = ? AND revision_id = ?",
                (record.revision_id, record.code_sha256, record.code_size, _to_doc(record),
                 record.name, expected_revision),
            )  # fmt: skip
            if cursor.rowcount != 1:
                raise StoreConflict(record.name)

    def delete(self, name: str) -> bool:
        with self._lock, self._conn:  # one transaction: all of it goes, or nothing
            self._conn.execute("BEGIN IMMEDIATE")
            for table, column in (("versions", "name"), ("version_counters", "name"),
                                  ("aliases", "function_name"),
                                  ("rollouts", "function_name"),
                                  ("event_configs", "function_name"),
                                  ("provisioned", "function_name"),
                                  ("function_urls", "function_name"),
                                  ("policies", "function_name")):  # fmt: skip
                self._conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            return self._conn.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount > 0

    def publish(self, record: FunctionRecord) -> FunctionRecord:
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO version_counters (name, last) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET last = last + 1",
                (record.name,),
            )
            (number,) = self._conn.execute(
                "SELECT last FROM version_counters WHERE name = ?", (record.name,)
            ).fetchone()
            published = record.updated(version=str(number))
            self._conn.execute(
                "INSERT INTO versions (name, version, code_sha256, code_size, doc) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.name, number, record.code_sha256, record.code_size, _to_doc(published)),
            )
            return published

    def get_version(self, name: str, version: str) -> FunctionRecord | None:
        if not version.isdigit():
            return None
        row = self._row(
            "SELECT doc FROM versions WHERE name = ? AND version = ?", name, int(version)
        )
        return _from_doc(row[0]) if row else None

    def list_versions(self, name: str, after: int, limit: int) -> builtins.list[FunctionRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM versions WHERE name = ? AND version > ? ORDER BY version LIMIT ?",
                (name, after, limit),
            ).fetchall()
        return [_from_doc(r[0]) for r in rows]

    def delete_version(self, name: str, version: str) -> bool:
        with self._lock:
            return (
                self._conn.execute(
                    "DELETE FROM versions WHERE name = ? AND version = ?", (name, int(version))
                ).rowcount
                > 0
            )

    def create_alias(self, alias: AliasRecord) -> None:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO aliases (function_name, name, revision_id, doc) "
                    "VALUES (?, ?, ?, ?)",
                    (alias.function_name, alias.name, alias.revision_id, _alias_doc(alias)),
                )
            except sqlite3.IntegrityError:
                raise StoreConflict(alias.name) from None

    def list_aliases(self, function_name: str) -> builtins.list[AliasRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM aliases WHERE function_name = ? ORDER BY name", (function_name,)
            ).fetchall()
        return [_alias_from_doc(r[0]) for r in rows]

    def replace_alias(self, alias: AliasRecord, expected_revision: str) -> None:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE aliases SET revision_id = ?, doc = ? "
                "WHERE function_name = ? AND name = ? AND revision_id = ?",
                (alias.revision_id, _alias_doc(alias), alias.function_name, alias.name,
                 expected_revision),
            )  # fmt: skip
            if cursor.rowcount != 1:
                raise StoreConflict(alias.name)

    def delete_alias(self, function_name: str, name: str) -> bool:
        with self._lock:
            return (
                self._conn.execute(
                    "DELETE FROM aliases WHERE function_name = ? AND name = ?",
                    (function_name, name),
                ).rowcount
                > 0
            )

    def put_rollout(self, function_name: str, alias: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO rollouts (function_name, alias, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (function_name, alias) DO UPDATE SET doc = excluded.doc",
                (function_name, alias, json.dumps(doc, separators=(",", ":"))),
            )

    def rollouts(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM rollouts").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_event_config(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO event_configs (function_name, qualifier, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (function_name, qualifier) DO UPDATE SET doc = excluded.doc",
                (function_name, qualifier, json.dumps(doc, separators=(",", ":"))),
            )

    def delete_event_config(self, function_name: str, qualifier: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM event_configs WHERE function_name = ? AND qualifier = ?",
                (function_name, qualifier),
            )
            return cursor.rowcount > 0

    def event_configs(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM event_configs").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_provisioned(self, function_name: str, qualifier: str, requested: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO provisioned (function_name, qualifier, requested, modified) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (function_name, qualifier) "
                "DO UPDATE SET requested = excluded.requested, modified = excluded.modified",
                (function_name, qualifier, requested, time.time()),
            )

    def delete_provisioned(self, function_name: str, qualifier: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM provisioned WHERE function_name = ? AND qualifier = ?",
                (function_name, qualifier),
            )
            return cursor.rowcount > 0

    def provisioned(self) -> builtins.list[tuple[str, str, int, float]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT function_name, qualifier, requested, modified FROM provisioned"
            ).fetchall()
        return [(str(a), str(b), int(c), float(d)) for a, b, c, d in rows]

    def put_function_url(self, url_id: str, function_name: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO function_urls (url_id, function_name, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (url_id) DO UPDATE SET doc = excluded.doc",
                (url_id, function_name, json.dumps(doc, separators=(",", ":"))),
            )

    def delete_function_url(self, url_id: str) -> bool:
        with self._lock:
            cursor = self._conn.execute("DELETE FROM function_urls WHERE url_id = ?", (url_id,))
            return cursor.rowcount > 0

    def function_urls(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM function_urls").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_policy(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO policies (function_name, qualifier, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (function_name, qualifier) DO UPDATE SET doc = excluded.doc",
                (function_name, qualifier, json.dumps(doc, separators=(",", ":"))),
            )

    def delete_policy(self, function_name: str, qualifier: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM policies WHERE function_name = ? AND qualifier = ?",
                (function_name, qualifier),
            )
            return cursor.rowcount > 0

    def policies(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM policies").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_mapping(self, uuid: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO event_source_mappings (uuid, doc) VALUES (?, ?) "
                "ON CONFLICT (uuid) DO UPDATE SET doc = excluded.doc",
                (uuid, json.dumps(doc, separators=(",", ":"))),
            )

    def delete_mapping(self, uuid: str) -> bool:
        with self._lock:
            cursor = self._conn.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,))
            return cursor.rowcount > 0

    def mappings(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM event_source_mappings").fetchall()
        return [json.loads(r[0]) for r in rows]

    def put_route(self, route_id: str, doc: dict[str, object]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO http_routes (id, doc) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                (route_id, json.dumps(doc, separators=(",", ":"))),
            )

    def delete_route(self, route_id: str) -> bool:
        with self._lock:
            return (
                self._conn.execute("DELETE FROM http_routes WHERE id = ?", (route_id,)).rowcount > 0
            )

    def routes(self) -> builtins.list[dict[str, object]]:
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM http_routes").fetchall()
        return [json.loads(r[0]) for r in rows]

    # ----- layers ------------------------------------------------------------------------------
    def publish_layer(self, layer: LayerVersion) -> LayerVersion:
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO layer_counters (name, last) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET last = last + 1",
                (layer.name,),
            )
            (number,) = self._conn.execute(
                "SELECT last FROM layer_counters WHERE name = ?", (layer.name,)
            ).fetchone()
            published = layer.updated(version=int(number))
            self._conn.execute(
                "INSERT INTO layer_versions (name, version, code_sha256, doc) VALUES (?, ?, ?, ?)",
                (layer.name, number, layer.code_sha256, _to_json(published)),
            )
            return published

    def get_layer_version(self, name: str, version: int) -> LayerVersion | None:
        row = self._row(
            "SELECT doc FROM layer_versions WHERE name = ? AND version = ?", name, version
        )
        return _layer_from_doc(row[0]) if row else None

    def layer_versions(self, name: str | None = None) -> builtins.list[LayerVersion]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc FROM layer_versions WHERE ? IS NULL OR name = ? "
                "ORDER BY name, version DESC",
                (name, name),
            ).fetchall()
        return [_layer_from_doc(r[0]) for r in rows]

    def replace_layer_version(self, layer: LayerVersion, expected_revision: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(
                "SELECT doc FROM layer_versions WHERE name = ? AND version = ?",
                (layer.name, layer.version),
            ).fetchone()
            if row is None or _layer_from_doc(row[0]).policy_revision != expected_revision:
                raise StoreConflict(f"{layer.name}:{layer.version}")
            self._conn.execute(
                "UPDATE layer_versions SET doc = ? WHERE name = ? AND version = ?",
                (_to_json(layer), layer.name, layer.version),
            )

    def delete_layer_version(self, name: str, version: int) -> bool:
        with self._lock:
            deleted = self._conn.execute(
                "DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            )
            return deleted.rowcount > 0

    def code_in_use(self, sha256: str) -> bool:
        # A function's layers are in its document: found through SQLite's JSON functions (a
        # scan, but only when a package may be collected).
        return (
            self._row(
                "SELECT 1 FROM functions WHERE code_sha256 = ? "
                "UNION ALL SELECT 1 FROM versions WHERE code_sha256 = ? "
                "UNION ALL SELECT 1 FROM layer_versions WHERE code_sha256 = ? "
                "UNION ALL SELECT 1 FROM functions, json_each(functions.doc, '$.layers') AS use "
                "WHERE json_extract(use.value, '$.code_sha256') = ? "
                "UNION ALL SELECT 1 FROM versions, json_each(versions.doc, '$.layers') AS use "
                "WHERE json_extract(use.value, '$.code_sha256') = ? LIMIT 1",
                *[sha256] * 5,
            )
            is not None
        )

    def total_code_size(self) -> tuple[int, int]:
        count, total = self._row("SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions")
        (versions,) = self._row("SELECT COALESCE(SUM(code_size), 0) FROM versions")
        return int(count), int(total) + int(versions)

    def changes(self, after: int, limit: int) -> builtins.list[Change]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, kind, name, item FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
            if rows:  # the oldest go (cheap: a range of the rowid)
                self._conn.execute("DELETE FROM changes WHERE seq <= ?",
                                   (rows[-1][0] - CHANGES_KEPT,))  # fmt: skip
        return [Change(*row) for row in rows]

    def last_change(self) -> int:
        (seq,) = self._row("SELECT COALESCE(MAX(seq), 0) FROM changes")
        return int(seq)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

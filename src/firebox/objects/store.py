"""Where the object store's metadata lives: SQLite (`<data>/s3/s3.sqlite3`, WAL, fsync on
commit). Writes are typed changes, each applied atomically (its own savepoint within a group
commit), with the preconditions that must hold when it lands (a bucket still empty, a key
still absent), so two racing requests cannot both win."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.objects import errors
from firebox.objects.errors import S3Error
from firebox.objects.records import BucketRecord, Notice, ObjectRecord, PartRecord, UploadRecord
from firebox.storage.migrations import Migration, migrate
from firebox.storage.sqlite import connect

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    data BLOB,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_bucket ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (upload_id, number)
);
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc TEXT NOT NULL
);
"""
MIGRATIONS = [Migration(1, "buckets, objects, multipart uploads, notification outbox", SCHEMA_1)]


# ----- the changes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PutBucket:
    record: BucketRecord
    create: bool = False  # a new bucket: refused if it exists


@dataclass(frozen=True)
class DropBucket:
    name: str


@dataclass(frozen=True)
class UpdateBucket:
    """Changes some fields of the bucket as it is when the change lands (tags, notification)."""

    name: str
    fields: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class PutObject:
    bucket: str
    record: ObjectRecord
    data: bytes | None = None  # inline bytes (small objects), else the record's blobs
    if_none_match: bool = False  # If-None-Match: * (only if the key is absent)
    if_match: str | None = None  # If-Match: <etag> (only if the current ETag is this)


@dataclass(frozen=True)
class DropObject:
    bucket: str
    key: str
    notices: tuple[Notice, ...] = ()  # stored only if there was an object to delete


@dataclass(frozen=True)
class SetTags:
    """Replaces the tags of the object as it is when the change lands (its bytes untouched)."""

    bucket: str
    key: str
    tags: dict[str, str]


@dataclass(frozen=True)
class PutUpload:
    record: UploadRecord


@dataclass(frozen=True)
class DropUpload:
    upload_id: str
    keep: frozenset[str] = frozenset()  # part blobs the completed object now owns
    # (number, blob) of the parts a completion joined: refused if one was re-uploaded since
    expect: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class PutPart:
    part: PartRecord


@dataclass(frozen=True)
class AddNotice:
    notice: Notice


@dataclass(frozen=True)
class DropNotices:
    ids: tuple[int, ...]


Op = (
    PutBucket | DropBucket | UpdateBucket | PutObject | DropObject | SetTags | PutUpload
    | DropUpload | PutPart | AddNotice | DropNotices
)  # fmt: skip


@dataclass(frozen=True)
class Change:
    """Ops applied together or not at all."""

    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Applied:
    """What a change did: the blobs it freed (to remove once committed), or why it was
    refused (a precondition that no longer held)."""

    freed: tuple[str, ...] = ()
    refused: S3Error | None = None
    replaced: ObjectRecord | None = None  # the object a PutObject replaced


def _doc(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


def _object(doc: str) -> ObjectRecord:
    data = json.loads(doc)
    data["blobs"], data["sizes"] = tuple(data["blobs"]), tuple(data["sizes"])
    return ObjectRecord(**data)


class SqliteObjectStore:
    """The metadata of buckets and objects in SQLite; reads on the caller's thread through
    their own connection (WAL: never blocked by a commit in flight)."""

    def __init__(self, path: Path) -> None:
        self._write = connect(path)
        self._read = connect(path)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        with self._write_lock:
            migrate(self._write, MIGRATIONS, f"object store {path}")

    # ----- reads --------------------------------------------------------------------------
    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            return self._read.execute(sql, args).fetchall()

    def bucket(self, name: str) -> BucketRecord | None:
        rows = self._rows("SELECT doc FROM buckets WHERE name = ?", (name,))
        return BucketRecord(**json.loads(rows[0][0])) if rows else None

    def buckets(self) -> list[BucketRecord]:
        return [BucketRecord(**json.loads(d)) for (d,) in
                self._rows("SELECT doc FROM buckets ORDER BY name")]  # fmt: skip

    def bucket_sizes(self) -> list[tuple[str, int, int]]:
        """(bucket, objects, bytes) of every bucket with objects."""
        rows = self._rows("SELECT bucket, count(*), coalesce(sum(json_extract(doc, '$.size')), 0) "
                          "FROM objects GROUP BY bucket ORDER BY bucket")  # fmt: skip
        return [(str(b), int(n), int(size)) for b, n, size in rows]

    def object(self, bucket: str, key: str) -> ObjectRecord | None:
        rows = self._rows("SELECT doc FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
        return _object(rows[0][0]) if rows else None

    def object_and_data(self, bucket: str, key: str) -> tuple[ObjectRecord, bytes | None] | None:
        """An object's record and its inline bytes, read together (one version's both)."""
        rows = self._rows("SELECT doc, data FROM objects WHERE bucket = ? AND key = ?",
                          (bucket, key))  # fmt: skip
        if not rows:
            return None
        doc, data = rows[0]
        return _object(doc), (bytes(data) if data is not None else None)

    def keys(
        self, bucket: str, start: str, prefix: str, limit: int, inclusive: bool = False
    ) -> list[ObjectRecord]:
        """Up to `limit` objects from `start` on (after it, unless `inclusive`) whose keys
        start with `prefix`, in UTF-8 binary order (S3's)."""
        if start < prefix:
            start, inclusive = prefix, True
        args: list[Any] = [bucket, start]
        bound = ""
        end = prefix_end(prefix)
        if end is not None:
            bound = "AND key < ?"
            args.append(end)
        args.append(limit)
        sql = (
            f"SELECT doc FROM objects WHERE bucket = ? AND key {'>=' if inclusive else '>'} ? "
            f"{bound} ORDER BY key LIMIT ?"
        )
        return [_object(d) for (d,) in self._rows(sql, args)]

    def upload(self, upload_id: str) -> UploadRecord | None:
        rows = self._rows("SELECT doc FROM uploads WHERE upload_id = ?", (upload_id,))
        return UploadRecord(**json.loads(rows[0][0])) if rows else None

    def uploads(self, bucket: str) -> list[UploadRecord]:
        rows = self._rows("SELECT doc FROM uploads WHERE bucket = ? ORDER BY key, upload_id",
                          (bucket,))  # fmt: skip
        return [UploadRecord(**json.loads(d)) for (d,) in rows]

    def parts(self, upload_id: str) -> list[PartRecord]:
        rows = self._rows("SELECT doc FROM parts WHERE upload_id = ? ORDER BY number",
                          (upload_id,))  # fmt: skip
        return [PartRecord(**json.loads(d)) for (d,) in rows]

    def notices(self, limit: int) -> list[Notice]:
        rows = self._rows("SELECT id, doc FROM notices ORDER BY id LIMIT ?", (limit,))
        return [dataclasses.replace(Notice(**json.loads(d)), id=i) for i, d in rows]

    def referenced_blobs(self) -> set[str]:
        found: set[str] = set()
        for (doc,) in self._rows("SELECT doc FROM objects WHERE data IS NULL"):
            found.update(json.loads(doc)["blobs"])
        for (doc,) in self._rows("SELECT doc FROM parts"):
            found.add(json.loads(doc)["blob"])
        return found

    # ----- writes -------------------------------------------------------------------------
    def apply(self, changes: list[Change]) -> list[Applied]:
        """Applies changes in one transaction (fsync'd), each in its own savepoint: one whose
        precondition fails is refused alone."""
        results: list[Applied] = []
        with self._write_lock:
            conn = self._write
            conn.execute("BEGIN IMMEDIATE")
            try:
                for change in changes:
                    conn.execute("SAVEPOINT change")
                    try:
                        results.append(self._apply(conn, change))
                    except S3Error as exc:
                        conn.execute("ROLLBACK TO change")
                        results.append(Applied(refused=exc))
                    conn.execute("RELEASE change")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return results

    def _apply(self, conn: Any, change: Change) -> Applied:
        freed: list[str] = []
        replaced: ObjectRecord | None = None
        for op in change.ops:
            if isinstance(op, PutObject):
                replaced = self._put_object(conn, op, freed)
            elif isinstance(op, DropObject):
                row = conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ? "
                                   "RETURNING doc", (op.bucket, op.key)).fetchone()  # fmt: skip
                if row is not None:
                    replaced = _object(row[0])
                    freed.extend(replaced.blobs)
                    for notice in op.notices:
                        self._add_notice(conn, notice)
            elif isinstance(op, SetTags):
                self._set_tags(conn, op)
            elif isinstance(op, PutBucket):
                self._put_bucket(conn, op)
            elif isinstance(op, UpdateBucket):
                self._update_bucket(conn, op)
            elif isinstance(op, DropBucket):
                self._drop_bucket(conn, op.name, freed)
            elif isinstance(op, PutUpload):
                if not conn.execute("SELECT 1 FROM buckets WHERE name = ?",
                                    (op.record.bucket,)).fetchone():  # fmt: skip
                    raise errors.no_bucket(op.record.bucket)
                conn.execute("INSERT INTO uploads VALUES (?, ?, ?, ?)", (op.record.upload_id,
                             op.record.bucket, op.record.key, _doc(op.record)))  # fmt: skip
            elif isinstance(op, DropUpload):
                self._drop_upload(conn, op, freed)
            elif isinstance(op, PutPart):
                self._put_part(conn, op.part, freed)
            elif isinstance(op, AddNotice):
                self._add_notice(conn, op.notice)
            else:
                conn.executemany("DELETE FROM notices WHERE id = ?", [(i,) for i in op.ids])
        return Applied(tuple(freed), None, replaced)

    def _put_object(self, conn: Any, op: PutObject, freed: list[str]) -> ObjectRecord | None:
        key = op.record.key
        row = conn.execute("SELECT doc FROM objects WHERE bucket = ? AND key = ?",
                           (op.bucket, key)).fetchone()  # fmt: skip
        current = _object(row[0]) if row else None
        if op.if_none_match and current is not None:
            raise errors.precondition_failed("If-None-Match")
        if op.if_match is not None:
            if current is None:
                raise errors.no_key(key)
            if op.if_match not in ("*", current.etag):
                raise errors.precondition_failed("If-Match")
        if (
            current is None
            and not conn.execute("SELECT 1 FROM buckets WHERE name = ?", (op.bucket,)).fetchone()
        ):
            raise errors.no_bucket(op.bucket)  # deleted while the body streamed in
        conn.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                     (op.bucket, key, _doc(op.record), op.data))  # fmt: skip
        if current is not None:
            freed.extend(b for b in current.blobs if b not in op.record.blobs)
        return current

    @staticmethod
    def _add_notice(conn: Any, notice: Notice) -> None:
        doc = dataclasses.asdict(notice)
        del doc["id"]
        conn.execute("INSERT INTO notices (doc) VALUES (?)", (json.dumps(doc),))

    @staticmethod
    def _set_tags(conn: Any, op: SetTags) -> None:
        row = conn.execute("SELECT doc FROM objects WHERE bucket = ? AND key = ?",
                           (op.bucket, op.key)).fetchone()  # fmt: skip
        if row is None:
            raise errors.no_key(op.key)
        record = dataclasses.replace(_object(row[0]), tags=op.tags)
        conn.execute("UPDATE objects SET doc = ? WHERE bucket = ? AND key = ?",
                     (_doc(record), op.bucket, op.key))  # fmt: skip

    @staticmethod
    def _update_bucket(conn: Any, op: UpdateBucket) -> None:
        row = conn.execute("SELECT doc FROM buckets WHERE name = ?", (op.name,)).fetchone()
        if row is None:
            raise errors.no_bucket(op.name)
        doc = {**json.loads(row[0]), **dict(op.fields)}
        conn.execute("UPDATE buckets SET doc = ? WHERE name = ?", (json.dumps(doc), op.name))

    def _put_bucket(self, conn: Any, op: PutBucket) -> None:
        exists = conn.execute("SELECT 1 FROM buckets WHERE name = ?", (op.record.name,))
        if op.create and exists.fetchone():
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named "
                "bucket succeeded and you already own it.",
                409,
                op.record.name,
            )
        if not op.create and not exists.fetchone():
            raise errors.no_bucket(op.record.name)
        conn.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?)",
                     (op.record.name, _doc(op.record)))  # fmt: skip

    def _drop_bucket(self, conn: Any, name: str, freed: list[str]) -> None:
        if conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
            raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                          name)  # fmt: skip
        if not conn.execute("DELETE FROM buckets WHERE name = ? RETURNING 1", (name,)).fetchone():
            raise errors.no_bucket(name)
        ids = conn.execute("DELETE FROM uploads WHERE bucket = ? RETURNING upload_id", (name,))
        for (upload_id,) in ids.fetchall():
            self._drop_parts(conn, upload_id, frozenset(), freed)

    def _drop_upload(self, conn: Any, op: DropUpload, freed: list[str]) -> None:
        row = conn.execute("DELETE FROM uploads WHERE upload_id = ? RETURNING 1", (op.upload_id,))
        if row.fetchone() is None:
            raise errors.no_upload(op.upload_id)  # completed or aborted meanwhile
        for number, blob in op.expect:
            part = conn.execute("SELECT doc FROM parts WHERE upload_id = ? AND number = ?",
                                (op.upload_id, number)).fetchone()  # fmt: skip
            if part is None or json.loads(part[0])["blob"] != blob:
                raise errors.invalid_part()  # re-uploaded while the completion was prepared
        self._drop_parts(conn, op.upload_id, op.keep, freed)

    def _drop_parts(
        self, conn: Any, upload_id: str, keep: frozenset[str], freed: list[str]
    ) -> None:
        rows = conn.execute("DELETE FROM parts WHERE upload_id = ? RETURNING doc", (upload_id,))
        freed.extend(b for (d,) in rows.fetchall() if (b := json.loads(d)["blob"]) not in keep)

    def _put_part(self, conn: Any, part: PartRecord, freed: list[str]) -> None:
        if not conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?",
                            (part.upload_id,)).fetchone():  # fmt: skip
            raise errors.no_upload(part.upload_id)
        row = conn.execute("SELECT doc FROM parts WHERE upload_id = ? AND number = ?",
                           (part.upload_id, part.number)).fetchone()  # fmt: skip
        if row is not None:
            freed.append(json.loads(row[0])["blob"])
        conn.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?)",
                     (part.upload_id, part.number, _doc(part)))  # fmt: skip

    def close(self) -> None:
        with self._write_lock:
            self._write.close()
        with self._read_lock:
            self._read.close()


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: no
    bound), so a prefix scan is a range scan."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None

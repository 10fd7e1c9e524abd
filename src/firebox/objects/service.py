"""The object store's operations: buckets, objects, listings, copies and multipart uploads.

Bytes stream to a blob file (or, for small objects, a buffer stored inline) while their MD5
and checksums are computed; the metadata change (and the notifications it raises) is then
committed in one transaction. A request cut short leaves nothing behind but a temporary
file, swept at the next start."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from firebox.objects import checksums, errors, notifications, reading
from firebox.objects.blobs import BlobStore, BlobWriter
from firebox.objects.checksums import Digests
from firebox.objects.errors import S3Error
from firebox.objects.names import check_bucket_name, check_key
from firebox.objects.notifications import Actor, Rule, Sequencer
from firebox.objects.records import (
    BucketRecord,
    Notice,
    ObjectRecord,
    PartRecord,
    UploadRecord,
)
from firebox.objects.store import (
    AddNotice,
    Applied,
    Change,
    DropBucket,
    DropNotices,
    DropObject,
    DropUpload,
    Op,
    PutBucket,
    PutObject,
    PutPart,
    PutUpload,
    SetTags,
    SqliteObjectStore,
    UpdateBucket,
    prefix_end,
)
from firebox.storage.group_commit import BatchCommit

INLINE_MAX = 128 * 1024  # objects up to this size live in the store itself: one fsync
MAX_PUT = 5 * 1024**3  # a single PUT (or part): 5 GB
MIN_PART = 5 * 1024**2  # every part but the last
MAX_PARTS = 10_000
MAX_DELETE = 1000
Body = AsyncIterator[bytes]


@dataclass(frozen=True)
class NewObject:
    """What a request says about the object it writes (besides its bytes)."""

    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    claimed: dict[str, str] = field(default_factory=dict)  # algorithm (or MD5) → value
    algorithm: str | None = None  # a checksum to compute even when no value is claimed
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class Listing:
    contents: list[ObjectRecord]
    prefixes: list[str]
    truncated: bool
    last: str  # the last key or common prefix listed: where the next page starts


@dataclass(frozen=True)
class Deleted:
    key: str
    error: S3Error | None = None


async def _nothing(*_: object) -> None:
    return None


class ObjectService:
    """Buckets and objects under one root directory (`<data>/s3`)."""

    def __init__(
        self,
        root: Path,
        region: str,
        clock: Callable[[], float] = time.time,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.region = region
        self.store = SqliteObjectStore(root / "s3.sqlite3")
        self.blobs = BlobStore(root)
        self.clock = clock
        self.sequencer = Sequencer(clock_ns)
        self._commit: BatchCommit[Change, Applied] = BatchCommit(self.store.apply)
        self._names: set[str] = set()  # the buckets (one server process serves a data dir)
        # Blob files being read (a GET in a thread): removing one waits for its last reader.
        self._reading: Counter[str] = Counter()
        self._deferred: set[str] = set()
        self._reading_lock = threading.RLock()  # releases may come from finalizers
        # Told when notifications were stored (the forwarder delivers them).
        self.on_notices: Callable[[], None] = lambda: None
        # Checks a configuration's destinations exist and let S3 send to them.
        self.check_destinations: Callable[[str, list[Rule]], None] = lambda bucket, rules: None
        # Told when a configuration is put (bucket, rules, request id, time): S3's test event
        # goes to the queues it names.
        self.on_configured: Callable[[str, list[Rule], str, float], Awaitable[None]] = _nothing

    def load(self) -> int:
        """Sweeps what a stopped server left half-written; returns how many files went."""
        self._names = {b.name for b in self.store.buckets()}
        return self.blobs.sweep(self.store.referenced_blobs())

    def has_bucket(self, name: str) -> bool:
        """Whether the bucket exists (from memory: asked of every unsigned request)."""
        return name in self._names

    async def _apply(self, *ops: Op) -> Applied:
        """Commits one change; raises its refusal (an S3Error: nothing was written). Any
        other failure, or a cancellation, may leave it written: callers keep their files
        then (a file no record names is swept at the next start)."""
        # Shielded: a request cancelled while its change commits still has the change's
        # consequences (freed files removed, the forwarder woken) carried out.
        return await asyncio.shield(self._commit_then(ops))

    async def _commit_then(self, ops: tuple[Op, ...]) -> Applied:
        applied = await self._commit.submit(Change(ops))
        if applied.refused is not None:
            raise applied.refused
        if applied.freed:
            self._remove(applied.freed)
        if any(isinstance(op, AddNotice) or (isinstance(op, DropObject) and op.notices)
               for op in ops):  # fmt: skip
            self.on_notices()
        return applied

    def _remove(self, blobs: tuple[str, ...] | list[str]) -> None:
        """Removes freed blob files, but not under a reader's feet: those go when it is done."""
        with self._reading_lock:
            now = [b for b in blobs if not self._reading[b]]
            self._deferred.update(b for b in blobs if self._reading[b])
        self.blobs.remove(now)

    def _hold(self, blobs: tuple[str, ...]) -> None:
        with self._reading_lock:
            self._reading.update(blobs)

    def _let_go(self, blobs: tuple[str, ...]) -> None:
        done: list[str] = []
        with self._reading_lock:
            self._reading.subtract(blobs)
            for blob in blobs:
                if self._reading[blob] <= 0:
                    del self._reading[blob]
                    if blob in self._deferred:
                        self._deferred.discard(blob)
                        done.append(blob)
        self.blobs.remove(done)

    # ----- buckets ------------------------------------------------------------------------
    def bucket(self, name: str) -> BucketRecord:
        found = self.store.bucket(name)
        if found is None:
            raise errors.no_bucket(name)
        return found

    def bucket_sizes(self) -> list[tuple[str, int, int]]:
        """(bucket, objects, bytes) for S3's daily storage metrics."""
        return self.store.bucket_sizes()

    def buckets(self) -> list[BucketRecord]:
        return self.store.buckets()

    async def create_bucket(self, name: str, location: str | None = None) -> BucketRecord:
        check_bucket_name(name)
        record = BucketRecord(name, self.clock(), location or self.region)
        await self._apply(PutBucket(record, create=True))
        self._names.add(name)
        return record

    async def delete_bucket(self, name: str) -> None:
        await self._apply(DropBucket(name))
        self._names.discard(name)

    async def put_bucket_tags(self, name: str, tags: dict[str, str] | None) -> None:
        await self._apply(UpdateBucket(name, (("tags", tags or {}),)))

    def bucket_tags(self, name: str) -> dict[str, str]:
        tags = self.bucket(name).tags
        if not tags:
            raise S3Error("NoSuchTagSet", "The TagSet does not exist", 404, name)
        return tags

    async def put_notifications(
        self, name: str, config: dict[str, Any], request_id: str, validate: bool = True
    ) -> list[Rule]:
        """Replaces a bucket's notification configuration (an empty one turns them off)."""
        self.bucket(name)
        rules = notifications.parse(config)
        if validate:
            self.check_destinations(name, rules)
        await self._apply(UpdateBucket(name, (("notification", notifications.stored(rules)),)))
        await self.on_configured(name, rules, request_id, self.clock())
        return rules

    def notification_rules(self, name: str) -> list[Rule]:
        return notifications.rules_of(self.bucket(name))

    # ----- receiving bytes ----------------------------------------------------------------
    async def _receive(
        self, body: Body, new: NewObject, limit: int, blob: bool = False
    ) -> tuple[Digests, bytes | None, BlobWriter | None]:
        """Reads a body to its end: into memory while small (unless `blob`), else into a
        blob file, never more than a chunk in memory. Checksums claimed are verified."""
        algorithms = set(a for a in new.claimed if a != "MD5")
        if new.algorithm:
            algorithms.add(new.algorithm)
        digests = Digests(sorted(algorithms))
        buffer = bytearray()
        writer: BlobWriter | None = None
        try:
            async for chunk in body:
                digests.update(chunk)
                if digests.size > limit:
                    raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum "
                                  "allowed size", 400)  # fmt: skip
                if writer is None and not blob and len(buffer) + len(chunk) <= INLINE_MAX:
                    buffer += chunk
                    continue
                if writer is None:
                    writer = self.blobs.writer()
                    writer.write(bytes(buffer))
                    buffer = bytearray()
                writer.write(chunk)
            if writer is None and blob:
                writer = self.blobs.writer()
                writer.write(bytes(buffer))
            checksums.verify(new.claimed, digests)
            if writer is not None:
                await asyncio.to_thread(writer.commit)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        return digests, (bytes(buffer) if writer is None else None), writer

    def _discard(self, writer: BlobWriter | None) -> None:
        if writer is not None:
            self.blobs.remove([writer.id])

    def _notices(
        self, bucket: BucketRecord, event: str, key: str, obj: ObjectRecord | None,
        actor: Actor | None,
    ) -> list[AddNotice]:  # fmt: skip
        if actor is None or not bucket.notification:
            return []
        found = notifications.notices(bucket, self.region, event, key, obj, actor, self.sequencer,
                                      self.clock())  # fmt: skip
        return [AddNotice(n) for n in found]

    # ----- objects ------------------------------------------------------------------------
    async def put_object(
        self, bucket_name: str, key: str, body: Body, new: NewObject, actor: Actor | None = None,
        if_none_match: bool = False, if_match: str | None = None,
    ) -> ObjectRecord:  # fmt: skip
        """Stores an object (replacing any of that key) once all of its bytes arrived."""
        check_key(key)
        self.bucket(bucket_name)  # before reading a byte: a missing bucket is said at once
        digests, data, writer = await self._receive(body, new, MAX_PUT)
        stored_checksums = digests.checksums()
        record = ObjectRecord(
            key, digests.size, digests.etag(), self.clock(),
            new.content_type or "binary/octet-stream", new.headers, new.metadata,
            stored_checksums, new.tags, (writer.id,) if writer else (),
            (digests.size,) if writer else (), 0, new.storage_class,
        )  # fmt: skip
        try:
            bucket = self.bucket(bucket_name)
            notices = self._notices(bucket, "ObjectCreated:Put", key, record, actor)
            await self._apply(PutObject(bucket_name, record, data, if_none_match, if_match),
                              *notices)  # fmt: skip
        except S3Error:  # refused: nothing names the file
            self._discard(writer)
            raise
        return record

    def head(self, bucket: str, key: str) -> ObjectRecord:
        self.bucket(bucket)
        found = self.store.object(bucket, key)
        if found is None:
            raise errors.no_key(key)
        return found

    def open(self, bucket: str, key: str) -> tuple[ObjectRecord, reading.Body]:
        """An object and its bytes, held until the Body is closed: a replacement committed
        meanwhile removes the old files only once their reader is done."""
        self.bucket(bucket)
        for _ in range(5):
            found = self.store.object_and_data(bucket, key)
            if found is None:
                raise errors.no_key(key)
            record, data = found
            if not record.blobs:
                return record, reading.Body(data or b"", [], ())
            self._hold(record.blobs)
            # Still that version? If it was replaced before the hold, its files may be gone.
            current = self.store.object(bucket, key)
            if current is not None and current.blobs == record.blobs:
                paths = [self.blobs.path(b) for b in record.blobs]
                release = functools.partial(self._let_go, record.blobs)
                return record, reading.Body(None, paths, record.sizes, release)
            self._let_go(record.blobs)
        raise S3Error("InternalError", "The object changed while it was being read; retry", 500)

    async def delete_object(self, bucket_name: str, key: str, actor: Actor | None = None) -> None:
        """Deletes an object (none there is no error); its notification is stored only if
        the delete found one, in the same transaction."""
        bucket = self.bucket(bucket_name)
        notices = self._notices(bucket, "ObjectRemoved:Delete", key, None, actor)
        await self._apply(DropObject(bucket_name, key, tuple(n.notice for n in notices)))

    async def delete_objects(
        self, bucket_name: str, keys: list[str], actor: Actor | None = None
    ) -> list[Deleted]:
        """DeleteObjects: each key deleted on its own (one missing is still "deleted"), all
        in the same group commit."""
        if len(keys) > MAX_DELETE:
            raise errors.malformed_xml()
        self.bucket(bucket_name)

        async def one(key: str) -> Deleted:
            try:
                await self.delete_object(bucket_name, key, actor)
            except S3Error as exc:
                return Deleted(key, exc)
            return Deleted(key)

        return list(await asyncio.gather(*(one(key) for key in keys)))

    async def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        self.head(bucket, key)
        await self._apply(SetTags(bucket, key, tags))

    async def copy_object(
        self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, new: NewObject,
        replace_metadata: bool, replace_tags: bool, actor: Actor | None = None,
        check_source: Callable[[ObjectRecord], None] = lambda _: None,
    ) -> ObjectRecord:  # fmt: skip
        """CopyObject: the bytes shared (hard links) or copied inline, metadata kept
        (COPY) or taken from the request (REPLACE)."""
        check_key(dst_key)
        target_bucket = self.bucket(dst_bucket)
        source, body = self.open(src_bucket, src_key)
        try:
            check_source(source)
            same = (src_bucket, src_key) == (dst_bucket, dst_key)
            if same and not replace_metadata and new.storage_class == source.storage_class:
                raise S3Error("InvalidRequest", "This copy request is illegal because it is "
                              "trying to copy an object to itself without changing the object's "
                              "metadata, storage class, website redirect location or encryption "
                              "attributes.")  # fmt: skip
            data = None
            blobs: tuple[str, ...] = ()
            if source.blobs:  # held by the open body: linked before anyone may remove them
                links = source.blobs
                blobs = tuple(await asyncio.to_thread(lambda: [self.blobs.link(b) for b in links]))
            else:
                data = body.read_all()  # the same version's bytes as its record
        finally:
            body.close()
        record = replace(
            source, key=dst_key, modified=self.clock(), blobs=blobs,
            storage_class=new.storage_class,
        )  # fmt: skip
        if replace_metadata:
            record = replace(record, content_type=new.content_type or "binary/octet-stream",
                             headers=new.headers, metadata=new.metadata)  # fmt: skip
        if replace_tags:
            record = replace(record, tags=new.tags)
        try:
            notices = self._notices(target_bucket, "ObjectCreated:Copy", dst_key, record, actor)
            await self._apply(PutObject(dst_bucket, record, data), *notices)
        except S3Error:
            self.blobs.remove(blobs)
            raise
        return record

    # ----- listing ------------------------------------------------------------------------
    def list_objects(
        self, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int
    ) -> Listing:
        """Keys after `marker` under `prefix`, those sharing a `delimiter`-ended prefix rolled
        up into one common prefix, up to `max_keys` entries in all."""
        self.bucket(bucket)
        contents: list[ObjectRecord] = []
        prefixes: list[str] = []
        start, inclusive = marker, False
        if (
            delimiter
            and marker.startswith(prefix)
            and marker.endswith(delimiter)
            and (delimiter in marker[len(prefix) :])
        ):  # a page that ended on a common prefix goes on after everything under it
            start, inclusive = prefix_end(marker) or marker, True
        last = ""
        while True:
            page = self.store.keys(bucket, start, prefix, min(1000, max_keys + 1), inclusive)
            for obj in page:
                common = None
                if delimiter:
                    at = obj.key.find(delimiter, len(prefix))
                    if at >= 0:
                        common = obj.key[: at + len(delimiter)]
                if len(contents) + len(prefixes) >= max_keys:
                    return Listing(contents, prefixes, True, last)
                if common is not None:
                    prefixes.append(common)
                    last = common
                    end = prefix_end(common)
                    if end is None:
                        return Listing(contents, prefixes, False, last)
                    start, inclusive = end, True
                    break  # skip everything under the common prefix: ask again from after it
                contents.append(obj)
                last = start = obj.key
                inclusive = False
            else:
                if len(page) < min(1000, max_keys + 1):
                    return Listing(contents, prefixes, False, last)

    # ----- multipart ----------------------------------------------------------------------
    async def create_upload(self, bucket: str, key: str, new: NewObject) -> UploadRecord:
        check_key(key)
        self.bucket(bucket)
        upload_id = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        record = UploadRecord(
            upload_id, bucket, key, self.clock(), new.content_type or "binary/octet-stream",
            new.headers, new.metadata, new.tags, new.algorithm, new.storage_class,
        )  # fmt: skip
        await self._apply(PutUpload(record))
        return record

    def upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        self.bucket(bucket)
        found = self.store.upload(upload_id)
        if found is None or (found.bucket, found.key) != (bucket, key):
            raise errors.no_upload(upload_id)
        return found

    @staticmethod
    def _check_part_number(number: int) -> None:
        if not 1 <= number <= MAX_PARTS:
            raise errors.invalid_argument("Part number must be an integer between 1 and 10000, "
                                          "inclusive")  # fmt: skip

    async def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, body: Body, new: NewObject
    ) -> PartRecord:
        self._check_part_number(number)
        upload = self.upload(bucket, key, upload_id)
        algorithm = upload.checksum_algorithm
        wanted = replace(new, algorithm=new.algorithm or algorithm)
        digests, _, writer = await self._receive(body, wanted, MAX_PUT, blob=True)
        assert writer is not None
        part = PartRecord(upload_id, number, writer.id, digests.size, digests.etag(),
                          self.clock(), digests.checksums())  # fmt: skip
        try:
            await self._apply(PutPart(part))
        except S3Error:
            self._discard(writer)
            raise
        return part

    async def upload_part_copy(
        self, bucket: str, key: str, upload_id: str, number: int, src_bucket: str, src_key: str,
        byte_range: tuple[int, int] | None, check_source: Callable[[ObjectRecord], None],
    ) -> PartRecord:  # fmt: skip
        self._check_part_number(number)
        upload = self.upload(bucket, key, upload_id)
        source, body = self.open(src_bucket, src_key)
        try:
            check_source(source)
        except BaseException:
            body.close()
            raise
        first, last = byte_range if byte_range is not None else (0, source.size - 1)
        if byte_range is not None and (last >= source.size or first > last):
            body.close()
            raise S3Error("InvalidArgument", "Range specified is not valid for source object of "
                          f"size: {source.size}")  # fmt: skip

        async def chunks() -> AsyncIterator[bytes]:
            iterator = body.chunks(first, last)
            while True:
                chunk = await asyncio.to_thread(next, iterator, None)
                if chunk is None:
                    return
                yield chunk

        algorithm = NewObject(algorithm=upload.checksum_algorithm)
        try:
            return await self.upload_part(bucket, key, upload_id, number, chunks(), algorithm)
        finally:
            body.close()  # also when the part failed before reading a byte

    async def complete_upload(
        self, bucket_name: str, key: str, upload_id: str, listed: list[tuple[int, str]],
        actor: Actor | None = None, if_none_match: bool = False, if_match: str | None = None,
    ) -> ObjectRecord:  # fmt: skip
        """Joins the listed parts (number, ETag) into the object, in order; their files
        become the object's, without a copy."""
        upload = self.upload(bucket_name, key, upload_id)
        if not listed:
            raise S3Error("MalformedXML", "You must specify at least one part")
        numbers = [n for n, _ in listed]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order. "
                          "Parts must be ordered by part number.")  # fmt: skip
        stored = {p.number: p for p in self.store.parts(upload_id)}
        parts: list[PartRecord] = []
        for number, etag in listed:
            part = stored.get(number)
            if part is None or etag.strip('"') != part.etag:
                raise errors.invalid_part()
            parts.append(part)
        for part in parts[:-1]:
            if part.size < MIN_PART:
                raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the "
                              "minimum allowed size")  # fmt: skip
        sums: dict[str, str] = {}
        algorithm = upload.checksum_algorithm
        if algorithm and all(algorithm in p.checksums for p in parts):
            sums[algorithm] = checksums.composite(
                algorithm, [p.checksums[algorithm] for p in parts]
            )
        record = ObjectRecord(
            key, sum(p.size for p in parts), checksums.multipart_etag([p.etag for p in parts]),
            self.clock(), upload.content_type, upload.headers, upload.metadata, sums, upload.tags,
            tuple(p.blob for p in parts), tuple(p.size for p in parts), len(parts),
            upload.storage_class,
        )  # fmt: skip
        bucket = self.bucket(bucket_name)
        notices = self._notices(bucket, "ObjectCreated:CompleteMultipartUpload", key, record,
                                actor)  # fmt: skip
        await self._apply(
            DropUpload(upload_id, keep=frozenset(record.blobs),
                       expect=tuple((p.number, p.blob) for p in parts)),
            PutObject(bucket_name, record, None, if_none_match, if_match), *notices,
        )  # fmt: skip
        return record

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.upload(bucket, key, upload_id)
        await self._apply(DropUpload(upload_id))

    def parts(self, bucket: str, key: str, upload_id: str) -> tuple[UploadRecord, list[PartRecord]]:
        upload = self.upload(bucket, key, upload_id)
        return upload, self.store.parts(upload_id)

    def uploads(self, bucket: str) -> list[UploadRecord]:
        self.bucket(bucket)
        return self.store.uploads(bucket)

    # ----- notifications' outbox ----------------------------------------------------------
    def pending_notices(self, limit: int = 100) -> list[Notice]:
        return self.store.notices(limit)

    async def delivered(self, ids: list[int]) -> None:
        await self._commit.submit(Change((DropNotices(tuple(ids)),)))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.store.close()

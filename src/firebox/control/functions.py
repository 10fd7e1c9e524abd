"""The function lifecycle: create, change and delete functions. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from firebox.control.catalog import Catalog, check_revision
from firebox.control.events import FunctionDeleted, VersionDeleted
from firebox.control.releases import Releases
from firebox.domain.arns import FunctionRef, check_name
from firebox.domain.errors import (
    ConstraintError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.functions import MAX_TAGS, FunctionConfig, NewFunction, check_tags
from firebox.domain.layers import LayerUse
from firebox.domain.records import LATEST, FunctionRecord
from firebox.storage.base import StoreConflict
from firebox.worker.codestore import MAX_UNZIPPED_BYTES

log = logging.getLogger("firebox.control.functions")

TAG_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+)$"
)


class FunctionService:
    """The function API's rules: create, change and delete functions, and collect their code."""

    def __init__(
        self,
        catalog: Catalog,
        releases: Releases,
        code_in_use: Callable[[Path], bool],
        resolve_layers: Callable[[Sequence[str]], tuple[LayerUse, ...]] = lambda arns: (),
    ) -> None:
        self.catalog = catalog
        self.releases = releases
        self.store = catalog.store
        self.code = catalog.code
        self.runtimes = catalog.runtimes
        self.arns = catalog.arns
        self.bus = catalog.bus
        # Whether a live environment runs a package (the worker knows).
        self._code_in_use = code_in_use
        # A Layers member (version ARNs) as the packages a function runs with (control/layers).
        self._resolve_layers = resolve_layers
        self._background: set[asyncio.Task[None]] = set()
        # Packages no function refers to, deleted once no environment runs them either.
        self._unreferenced: set[str] = set()
        # ... and merged /opt trees of layer combinations (their packages, in order).
        self._unused_trees: set[tuple[str, ...]] = set()

    def list(self, marker: str | None, max_items: int) -> tuple[list[FunctionRecord], str | None]:
        """One page of functions by name; the marker is opaque to clients."""
        after = None
        if marker:
            try:
                after = base64.urlsafe_b64decode(marker.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise InvalidParameterValueException(f"Invalid marker: {marker}") from None
        records = self.store.list(after, max_items + 1)
        next_marker = None
        if len(records) > max_items:
            records = records[:max_items]
            next_marker = base64.urlsafe_b64encode(records[-1].name.encode()).decode()
        return records, next_marker

    def code_totals(self) -> tuple[int, int]:
        """How many functions there are, and the bytes of code they store."""
        return self.store.total_code_size()

    # ----- writes ----------------------------------------------------------------------------
    async def create(self, new: NewFunction) -> FunctionRecord:
        """A new function, its code stored and unpacked (and version 1 with `publish`)."""
        check_name(new.name)
        changes = new.config.changes()
        for member, key in (("Role", "role"), ("Runtime", "runtime"), ("Handler", "handler")):
            if key not in changes:
                raise InvalidParameterValueException(f"{member} is required to create a function.")
        self.runtimes.resolve(changes["runtime"])
        tags = check_tags(new.tags)
        async with self.catalog.lock:
            if self.catalog.exists(new.name):
                raise ResourceConflictException(f"Function already exist: {new.name}")
            if "layers" in changes:
                changes["layers"] = self._resolve_layers(changes["layers"])
            stored = await asyncio.to_thread(self.code.put, new.code)
            layers = changes.get("layers", ())
            try:
                await self._check_size(stored.unzipped, layers)
            except BaseException:
                await self._remove_locked(stored.sha256)  # stored only to measure it
                raise
            now = time.time()
            record = FunctionRecord(
                name=new.name,
                code_sha256=stored.sha256,
                code_size=stored.size,
                revision_id=str(uuid.uuid4()),
                last_modified=now,
                created=now,
                tags=tags,
                **changes,
            )
            try:
                self.store.create(record)
            except BaseException as exc:  # nothing of it stays: its package, its layers' tree
                self._collect_tree(layers)
                await self._remove_locked(stored.sha256)
                if isinstance(exc, StoreConflict):
                    raise ResourceConflictException(f"Function already exist: {new.name}") from None
                raise
            self.catalog.put(record)
            if new.publish:
                return self.releases.publish_locked(record)
            return record

    def replace_locked(self, old: FunctionRecord, new: FunctionRecord) -> FunctionRecord:
        """Stores a changed $LATEST over `old` (the caller holds the catalog's lock)."""
        try:
            self.store.replace(new, old.revision_id)
        except StoreConflict:
            raise PreconditionFailedException(
                "The function was changed by another request; retry with the latest Revision Id"
            ) from None
        self.catalog.put(new)  # environments of the old generation retire (see the pool)
        if old.code_sha256 != new.code_sha256:
            self._collect(old.code_sha256)
        if old.layers != new.layers:
            self._collect_tree(old.layers)
        for use in set(old.layers) - set(new.layers):
            self._collect(use.code_sha256)
        return new

    async def update_code(
        self,
        ref: FunctionRef,
        code: bytes,
        *,
        revision_id: str | None = None,
        publish: bool = False,
        dry_run: bool = False,
    ) -> FunctionRecord:
        """New code for $LATEST (and a version of it with `publish`); `dry_run` only checks."""
        async with self.catalog.lock:
            old = self.catalog.latest(ref)
            check_revision(old.revision_id, revision_id)
            stored = await asyncio.to_thread(self.code.put, code)
            new = old.updated(
                code_sha256=stored.sha256,
                code_size=stored.size,
                revision_id=str(uuid.uuid4()),
                last_modified=time.time(),
            )
            try:
                await self._check_size(stored.unzipped, old.layers)
            except BaseException:
                if stored.sha256 != old.code_sha256:
                    await self._remove_locked(stored.sha256)
                raise
            if dry_run:
                # Validated and stored only to check it: dropped before the answer (if nothing
                # uses it), so a dry run leaves the store as it found it.
                if stored.sha256 != old.code_sha256:
                    await self._remove_locked(stored.sha256)
                return new
            new = self.replace_locked(old, new)
            if publish:
                return self.releases.publish_locked(new)
            return new

    async def update_configuration(
        self, ref: FunctionRef, config: FunctionConfig, revision_id: str | None = None
    ) -> FunctionRecord:
        """Changes the members `config` gives; the others stay."""
        changes = config.changes()
        if "runtime" in changes:
            self.runtimes.resolve(changes["runtime"])
        async with self.catalog.lock:
            old = self.catalog.latest(ref)
            check_revision(old.revision_id, revision_id)
            if "layers" in changes:
                changes["layers"] = self._resolve_layers(changes["layers"])
                unzipped = await asyncio.to_thread(self.code.unzipped_size, old.code_sha256)
                await self._check_size(unzipped, changes["layers"])
            new = old.updated(**changes, revision_id=str(uuid.uuid4()), last_modified=time.time())
            try:
                return self.replace_locked(old, new)
            except BaseException:
                self._collect_tree(new.layers)  # built for a change that did not happen
                raise

    async def _check_size(self, code_unzipped: int, layers: Sequence[LayerUse]) -> None:
        """Lambda's 250 MB for code and layers together; builds the layers' merged /opt."""
        if not layers:
            return
        in_layers = sum(use.unzipped for use in layers)
        if in_layers > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValueException(
                f"Layers consume more than the available size of {MAX_UNZIPPED_BYTES} bytes"
            )
        total = code_unzipped + in_layers
        if total > MAX_UNZIPPED_BYTES:
            raise InvalidParameterValueException(
                "Function code combined with layers exceeds the maximum allowed size of "
                f"{MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
            )
        # Built now, off the event loop, so that no environment start waits for it.
        await asyncio.to_thread(self.code.merge, [use.code_sha256 for use in layers])

    async def delete(self, ref: FunctionRef) -> None:
        """Deletes a function with its versions and aliases, or (qualified) one version."""
        async with self.catalog.lock:
            if ref.qualifier == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            if ref.qualifier is not None:
                self._delete_version(ref)
                return
            record = self.catalog.latest(ref)
            self.store.delete(record.name)
            gone = self.catalog.drop_function(record.name)
            self.bus.publish(FunctionDeleted(record.name))
            for sha256 in {r.code_sha256 for r in gone} | _layer_code(gone):
                self._collect(sha256)
            for layers in {r.layers for r in gone}:
                self._collect_tree(layers)

    def _delete_version(self, ref: FunctionRef) -> None:
        assert ref.qualifier is not None
        if not ref.qualifier.isdigit():
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias."
            )
        self.catalog.latest(FunctionRef(ref.name))
        if self.catalog.version(ref.name, ref.qualifier) is None:
            raise self.catalog.not_found(ref)
        self.releases.check_unreferenced(ref.name, ref.qualifier)
        self.store.delete_version(ref.name, ref.qualifier)
        record = self.catalog.drop_version(ref.name, ref.qualifier)
        self.bus.publish(VersionDeleted(ref.name, ref.qualifier))
        for sha256 in {record.code_sha256} | _layer_code([record]):
            self._collect(sha256)
        self._collect_tree(record.layers)

    # ----- tags (not configuration: they leave RevisionId alone) ----------------------------
    def _tagged(self, arn: str) -> FunctionRecord:
        match = TAG_ARN_RE.match(arn)
        if match is None:
            if re.match(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[^:]+:", arn):
                raise InvalidParameterValueException(
                    "Tags are not supported on function versions or aliases: use the function ARN."
                )
            pattern = "arn:(aws[a-zA-Z-]*):lambda:[a-z0-9-]+:\\d{12}:function:[a-zA-Z0-9-_]+"
            raise ConstraintError(
                arn, "resource", f"Member must satisfy regular expression pattern: {pattern}"
            )
        if (match[1], match[2]) != (self.arns.region, self.arns.account_id):
            raise ResourceNotFoundException(f"Function not found: {arn}")  # not this server's
        return self.catalog.latest(FunctionRef(match[3]))

    def list_tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn).tags)

    async def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        async with self.catalog.lock:
            record = self._tagged(arn)
            merged = {**record.tags, **check_tags(tags)}
            if len(merged) > MAX_TAGS:
                raise InvalidParameterValueException(
                    f"Number of tags exceeds resource tag limit ({MAX_TAGS})."
                )
            self.replace_locked(record, record.updated(tags=merged))

    async def untag(self, arn: str, keys: Sequence[str]) -> None:
        async with self.catalog.lock:
            record = self._tagged(arn)
            remaining = {k: v for k, v in record.tags.items() if k not in keys}
            self.replace_locked(record, record.updated(tags=remaining))

    # ----- code no function refers to ---------------------------------------------------------
    def _removable(self, sha256: str) -> bool:
        """Whether nothing refers to a package; one an environment still runs is remembered
        (and collected when that environment stops)."""
        if self.store.code_in_use(sha256):
            return False
        trees = [self.code.unpacked(sha256), *self.code.merged_with(sha256)]
        if any(self._code_in_use(tree) for tree in trees):
            self._unreferenced.add(sha256)
            return False
        self._unreferenced.discard(sha256)
        return True

    def collect(self, sha256: str) -> None:
        """A package may have lost its last reference (a deleted layer version's, say)."""
        self._collect(sha256)

    def _collect(self, sha256: str) -> None:
        """Deletes a package nothing refers to; one still running is deleted when it stops."""
        if not self._removable(sha256):
            return
        self._start(self._remove(sha256))

    async def _remove(self, sha256: str) -> None:
        # Under the write lock, checked again: a write between the decision and now (an update
        # back to the same zip, a re-created function) may have made the package live again,
        # and CodeStore.put, which runs under this lock too, reuses a package it finds.
        async with self.catalog.lock:
            await self._remove_locked(sha256)

    async def _remove_locked(self, sha256: str) -> None:
        """Deletes a package nothing refers to (the caller holds the write lock)."""
        if self._removable(sha256):
            await asyncio.to_thread(self.code.remove, sha256)

    def _collect_tree(self, layers: Sequence[LayerUse]) -> None:
        """Deletes a combination's merged tree once no function or version runs with it, nor
        any environment (those still running it: when they stop)."""
        shas = tuple(use.code_sha256 for use in layers)
        if len(shas) > 1:  # one layer's own tree is its package, collected as one
            self._start(self._remove_tree(shas))

    async def _remove_tree(self, shas: tuple[str, ...]) -> None:
        # Under the write lock, as _remove: merges happen under it too.
        async with self.catalog.lock:
            tree = self.code.opt_tree(shas)
            if tree is None or self.catalog.uses_layers(shas):
                self._unused_trees.discard(shas)
                return
            if self._code_in_use(tree):
                self._unused_trees.add(shas)
                return
            self._unused_trees.discard(shas)
            await asyncio.to_thread(self.code.drop_merged, shas)

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def environment_gone(self, env: object) -> None:
        """An environment stopped: packages and trees only it still ran can go now."""
        for sha256 in list(self._unreferenced):
            self._collect(sha256)
        for shas in list(self._unused_trees):
            self._start(self._remove_tree(shas))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def _layer_code(records: Sequence[FunctionRecord]) -> set[str]:
    """The layer packages some records run with."""
    return {use.code_sha256 for record in records for use in record.layers}

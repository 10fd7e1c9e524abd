"""The function lifecycle: create, read, update, delete and invoke. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firebox.control import validation
from firebox.control.releases import Releases, check_tags
from firebox.domain.arns import ArnBuilder, FunctionRef, check_unqualified_or_latest
from firebox.domain.errors import (
    InvalidParameterValueException,
    InvalidRuntimeException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST, AliasRecord, FunctionRecord
from firebox.domain.types import JSONDict
from firebox.invoke.invocation import InvocationResult
from firebox.invoke.invoker import Invoker
from firebox.runtimes.registry import Runtime, RuntimeRegistry
from firebox.storage.base import FunctionStore, StoreConflict
from firebox.worker.codestore import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, CodeStore

log = logging.getLogger("firebox.control.functions")


@dataclass(frozen=True)
class Deployed:
    """A function ready to invoke: its record, its runtime, and its unpacked code."""

    record: FunctionRecord
    runtime: Runtime | None  # None when the host no longer has the runtime
    code_dir: Path


class FunctionService:
    """Business rules of the Lambda function API over a store, a code store and a pool."""

    def __init__(
        self,
        store: FunctionStore,
        code: CodeStore,
        runtimes: RuntimeRegistry,
        invoker: Invoker,
        arns: ArnBuilder,
    ) -> None:
        self.store = store
        self.code = code
        self.runtimes = runtimes
        self.invoker = invoker
        self.arns = arns
        self.lock = asyncio.Lock()  # serialises writes, so revision checks cannot race
        self._deployed: dict[str, Deployed] = {}  # $LATEST of every function
        self._versions: dict[tuple[str, str], Deployed] = {}  # (name, number): immutable
        self._aliases: dict[str, dict[str, AliasRecord]] = {}
        self._random = random.Random()  # weighted alias routing
        self.releases = Releases(self)
        # Told about every completed invoke: (function, qualifier asked for, executed version,
        # failed?), e.g. to watch a rollout's error rate.
        self.on_invoked: list[Callable[[str, str | None, str, bool], None]] = []
        self._background: set[asyncio.Task[None]] = set()
        # Packages no function refers to, deleted once no environment runs them either.
        self._unreferenced: set[str] = set()
        invoker.pool.on_environment_dead.append(self._on_environment_dead)
        # Told when a function (qualifier None) or one of its versions or aliases is deleted.
        self.on_deleted: list[Callable[[str, str | None], None]] = []
        # Provisioned environments a function asked for (a reservation may not go below).
        self.provisioned_total: Callable[[str], int] = lambda name: 0
        # Told about every runtime a deployed function uses, e.g. to start its zygote early,
        # and about every deployed package, e.g. to compile its bytecode ahead.
        self.on_deploy: Callable[[Runtime], None] | None = None
        self.on_package: Callable[[Path, Runtime], None] | None = None

    def load(self) -> None:
        """Caches every stored function, so invokes never touch the database."""
        after: str | None = None
        while page := self.store.list(after, 1000):
            for record in page:
                self.cache(record)
                version = 0
                while versions := self.store.list_versions(record.name, version, 1000):
                    for published in versions:
                        self.cache(published)
                    version = int(versions[-1].version)
                for alias in self.store.list_aliases(record.name):
                    self.cache_alias(alias)
            after = page[-1].name

    def cache(self, record: FunctionRecord) -> Deployed:
        try:
            runtime: Runtime | None = self.runtimes.resolve(record.runtime)
        except InvalidParameterValueException:
            log.warning(
                "function %s: runtime %s is not available here", record.name, record.runtime
            )
            runtime = None
        deployed = Deployed(record, runtime, self.code.unpacked(record.code_sha256))
        if record.published:
            self._versions[(record.name, record.version)] = deployed
        else:
            self._deployed[record.name] = deployed
            reservations = self.invoker.pool.reservations
            if record.reserved_concurrency is None:
                reservations.pop(record.name, None)
            else:
                reservations[record.name] = record.reserved_concurrency
        if runtime is not None and self.on_deploy is not None:
            self.on_deploy(runtime)
        if runtime is not None and self.on_package is not None:
            self.on_package(deployed.code_dir, runtime)
        return deployed

    def _not_found(self, ref: FunctionRef) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Function not found: {self.arns.function(ref.name, ref.qualifier)}"
        )

    # ----- reads -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._deployed)

    def latest(self, ref: FunctionRef) -> FunctionRecord:
        """$LATEST, for changes: only an unqualified name or $LATEST may be changed."""
        check_unqualified_or_latest(ref, self.arns)
        deployed = self._deployed.get(ref.name)
        if deployed is None:
            raise self._not_found(ref)
        return deployed.record

    def latest_or_none(self, name: str) -> FunctionRecord | None:
        deployed = self._deployed.get(name)
        return deployed.record if deployed else None

    def exists(self, name: str) -> bool:
        return name in self._deployed

    def version(self, name: str, version: str) -> FunctionRecord | None:
        deployed = self._versions.get((name, version))
        return deployed.record if deployed else None

    def last_version(self, name: str) -> FunctionRecord | None:
        numbers = [int(v) for (n, v) in self._versions if n == name]
        return self._versions[(name, str(max(numbers)))].record if numbers else None

    def aliases(self, name: str) -> list[AliasRecord]:
        return sorted(self._aliases.get(name, {}).values(), key=lambda a: a.name)

    def alias(self, name: str, alias: str) -> AliasRecord | None:
        return self._aliases.get(name, {}).get(alias)

    def cache_alias(self, alias: AliasRecord) -> None:
        self._aliases.setdefault(alias.function_name, {})[alias.name] = alias

    def drop_alias(self, name: str, alias: str) -> None:
        self._aliases.get(name, {}).pop(alias, None)

    def deployed(self, ref: FunctionRef, route: bool = False) -> Deployed:
        """What a reference runs: $LATEST, a version, or an alias's version (routed by weight
        when route is set, else its primary)."""
        if ref.name not in self._deployed:
            raise self._not_found(ref)
        qualifier = ref.qualifier
        if qualifier is None or qualifier == LATEST:
            return self._deployed[ref.name]
        if not qualifier.isdigit():
            alias = self.alias(ref.name, qualifier)
            if alias is None:
                raise self._not_found(ref)
            qualifier = alias.function_version
            if route:
                for version, weight in alias.weights.items():
                    if self._random.random() < weight:
                        qualifier = version
            if qualifier == LATEST:
                return self._deployed[ref.name]
        deployed = self._versions.get((ref.name, qualifier))
        if deployed is None:
            raise self._not_found(ref)
        return deployed

    def get(self, ref: FunctionRef) -> FunctionRecord:
        return self.deployed(ref).record

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

    def account_settings(self, concurrency_limit: int, in_use: int) -> JSONDict:
        count, total = self.store.total_code_size()
        return {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": concurrency_limit,
                "UnreservedConcurrentExecutions": self.invoker.pool.unreserved_limit,
            },
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }

    # ----- writes ----------------------------------------------------------------------------
    async def create(self, body: JSONDict) -> FunctionRecord:
        name = validation.function_name(body)
        changes = validation.config_changes(body)
        for member, key in (("Role", "role"), ("Runtime", "runtime"), ("Handler", "handler")):
            if key not in changes.values:
                raise InvalidParameterValueException(f"{member} is required to create a function.")
        self.runtimes.resolve(changes.values["runtime"])
        zip_bytes = validation.zip_file(body, required=True)
        assert zip_bytes is not None
        tags = check_tags(body.get("Tags"))
        async with self.lock:
            if name in self._deployed:
                raise ResourceConflictException(f"Function already exist: {name}")
            stored = await asyncio.to_thread(self.code.put, zip_bytes)
            now = time.time()
            record = FunctionRecord(
                name=name,
                code_sha256=stored.sha256,
                code_size=stored.size,
                revision_id=str(uuid.uuid4()),
                last_modified=now,
                created=now,
                tags=tags,
                **changes.values,
            )
            try:
                self.store.create(record)
            except StoreConflict:
                raise ResourceConflictException(f"Function already exist: {name}") from None
            self.cache(record)
            if body.get("Publish"):
                return self.releases.publish_locked(record)
            return record

    def check_revision(self, record: FunctionRecord, body: JSONDict) -> None:
        expected = body.get("RevisionId")
        if expected is not None and expected != record.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )

    async def _replace(self, old: FunctionRecord, new: FunctionRecord) -> FunctionRecord:
        try:
            self.store.replace(new, old.revision_id)
        except StoreConflict:
            raise PreconditionFailedException(
                "The function was changed by another request; retry with the latest Revision Id"
            ) from None
        self.cache(new)
        # The next invoke runs the new generation; environments of the old one are retired.
        if new.revision_id != old.revision_id:
            self.invoker.pool.retire(new.name, LATEST)
        if old.code_sha256 != new.code_sha256:
            self._collect(old.code_sha256)
        return new

    async def update_code(self, ref: FunctionRef, body: JSONDict) -> FunctionRecord:
        zip_bytes = validation.zip_file(body, required=False)
        if zip_bytes is None:
            raise InvalidParameterValueException(
                "Please provide a source for function code (ZipFile)."
            )
        if body.get("Architectures") not in (None, ["x86_64"]):
            validation.config_changes({"Architectures": body["Architectures"]})
        async with self.lock:
            old = self.latest(ref)
            self.check_revision(old, body)
            stored = await asyncio.to_thread(self.code.put, zip_bytes)
            new = old.updated(
                code_sha256=stored.sha256,
                code_size=stored.size,
                revision_id=str(uuid.uuid4()),
                last_modified=time.time(),
            )
            if body.get("DryRun"):
                # Validated and stored only to check it: dropped before the answer (if nothing
                # uses it), so a dry run leaves the store as it found it.
                if stored.sha256 != old.code_sha256:
                    await self._remove_locked(stored.sha256)
                return new
            new = await self._replace(old, new)
            if body.get("Publish"):
                return self.releases.publish_locked(new)
            return new

    async def set_tags(self, record: FunctionRecord, tags: dict[str, str]) -> None:
        """Replaces a function's tags; code, configuration and RevisionId stay as they are."""
        await self._replace(record, record.updated(tags=tags))

    async def set_reserved(self, ref: FunctionRef, reserved: int | None) -> None:
        """Sets or removes a function's reserved concurrency (not configuration either)."""
        async with self.lock:
            record = self.latest(ref)
            if reserved is not None and reserved < self.provisioned_total(ref.name):
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function is less than the "
                    f"function's provisioned concurrency ({self.provisioned_total(ref.name)})."
                )
            if reserved is not None:
                others = sum(
                    n for name, n in self.invoker.pool.reservations.items() if name != ref.name
                )
                limit = self.invoker.pool.concurrency_limit
                minimum = min(100, limit // 10)
                if limit - others - reserved < minimum:
                    raise InvalidParameterValueException(
                        "Specified ReservedConcurrentExecutions for function decreases "
                        "account's UnreservedConcurrentExecution below its minimum value of "
                        f"[{minimum}]."
                    )
            await self._replace(record, record.updated(reserved_concurrency=reserved))

    async def update_configuration(self, ref: FunctionRef, body: JSONDict) -> FunctionRecord:
        changes = validation.config_changes(body)
        if "runtime" in changes.values:
            self.runtimes.resolve(changes.values["runtime"])
        async with self.lock:
            old = self.latest(ref)
            self.check_revision(old, body)
            new = old.updated(
                **changes.values, revision_id=str(uuid.uuid4()), last_modified=time.time()
            )
            return await self._replace(old, new)

    async def delete(self, ref: FunctionRef) -> None:
        """Deletes a function with its versions and aliases, or (qualified) one version."""
        async with self.lock:
            if ref.qualifier == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST version cannot be deleted without deleting the function."
                )
            if ref.qualifier is not None:
                await self._delete_version(ref)
                return
            record = self.latest(ref)
            self.store.delete(record.name)
            self._deployed.pop(record.name, None)
            self.invoker.pool.reservations.pop(record.name, None)
            self._aliases.pop(record.name, None)
            shas = {record.code_sha256}
            for key in [k for k in self._versions if k[0] == record.name]:
                shas.add(self._versions.pop(key).record.code_sha256)
            self.invoker.pool.retire(record.name)
            for sha256 in shas:
                self._collect(sha256)
            for listener in self.on_deleted:
                listener(record.name, None)

    async def _delete_version(self, ref: FunctionRef) -> None:
        assert ref.qualifier is not None
        if not ref.qualifier.isdigit():
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias."
            )
        self.latest(FunctionRef(ref.name))
        record = self.version(ref.name, ref.qualifier)
        if record is None:
            raise self._not_found(ref)
        self.releases.check_unreferenced(ref.name, ref.qualifier)
        self.store.delete_version(ref.name, ref.qualifier)
        del self._versions[(ref.name, ref.qualifier)]
        self.invoker.pool.retire(ref.name, ref.qualifier)
        self._collect(record.code_sha256)
        for listener in self.on_deleted:
            listener(ref.name, ref.qualifier)

    def _removable(self, sha256: str) -> bool:
        """Whether nothing refers to a package; one an environment still runs is remembered
        (and collected when that environment stops)."""
        if self.store.code_in_use(sha256):
            return False
        if self.invoker.pool.code_in_use(self.code.unpacked(sha256)):
            self._unreferenced.add(sha256)
            return False
        self._unreferenced.discard(sha256)
        return True

    def _collect(self, sha256: str) -> None:
        """Deletes a package nothing refers to; one still running is deleted when it stops."""
        if not self._removable(sha256):
            return
        task = asyncio.get_running_loop().create_task(self._remove(sha256))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _remove(self, sha256: str) -> None:
        # Under the write lock, checked again: a write between the decision and now (an update
        # back to the same zip, a re-created function) may have made the package live again,
        # and CodeStore.put, which runs under this lock too, reuses a package it finds.
        async with self.lock:
            await self._remove_locked(sha256)

    async def _remove_locked(self, sha256: str) -> None:
        """Deletes a package nothing refers to (the caller holds the write lock)."""
        if self._removable(sha256):
            await asyncio.to_thread(self.code.remove, sha256)

    def _on_environment_dead(self, env: object) -> None:
        for sha256 in list(self._unreferenced):
            self._collect(sha256)

    # ----- invocation ------------------------------------------------------------------------
    def _runnable(self, ref: FunctionRef, route: bool = False) -> tuple[Deployed, Runtime]:
        deployed = self.deployed(ref, route)
        if deployed.runtime is None:
            raise InvalidRuntimeException(
                f"The runtime {deployed.record.runtime} of this function is not available on this "
                f"firebox host. Available runtimes: {', '.join(self.runtimes.available())}"
            )
        return deployed, deployed.runtime

    async def invoke(
        self,
        ref: FunctionRef,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
        deployed: Deployed | None = None,
    ) -> InvocationResult:
        """Runs one invocation; on_chunk gets a streaming handler's output as it comes.

        `deployed` is what the reference resolved to, when the caller had to know first.
        """
        if deployed is None:
            deployed, runtime = self._runnable(ref, route=True)
        elif deployed.runtime is None:
            deployed, runtime = self._runnable(ref)  # raises the runtime's error
        else:
            runtime = deployed.runtime
        invoked_arn = self.arns.function(ref.name, ref.qualifier)
        result = await self.invoker.invoke(
            deployed.record, runtime, deployed.code_dir, payload, client_context, request_id,
            invoked_arn, on_chunk,
        )  # fmt: skip
        for listener in self.on_invoked:
            failed = result.function_error is not None
            listener(ref.name, ref.qualifier, result.executed_version, failed)
        return result

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

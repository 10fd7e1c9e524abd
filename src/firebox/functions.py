"""The function lifecycle: create, read, update, delete and invoke. Knows nothing of HTTP."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firebox import validation
from firebox.arns import ArnBuilder, FunctionRef, check_unqualified_or_latest
from firebox.codestore import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, CodeStore
from firebox.errors import (
    InvalidParameterValueException,
    InvalidRuntimeException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    TooManyRequestsException,
)
from firebox.invocation import InvocationResult, new_request_id
from firebox.invoker import Invoker
from firebox.models import FunctionRecord
from firebox.runtimes import Runtime, RuntimeRegistry
from firebox.store.base import FunctionStore, StoreConflict
from firebox.types import JSONDict

log = logging.getLogger("firebox.functions")


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
        self._lock = asyncio.Lock()  # serialises writes, so revision checks cannot race
        self._deployed: dict[str, Deployed] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Packages no function refers to, deleted once no environment runs them either.
        self._unreferenced: set[str] = set()
        invoker.pool.on_environment_dead.append(self._on_environment_dead)
        # Event invokes that find no capacity wait and try again, as Lambda's async queue does.
        self.throttle_retry_s = 0.05
        self.max_event_age_s = 6 * 3600.0
        # Told about every runtime a deployed function uses, e.g. to start its zygote early.
        self.on_deploy: Callable[[Runtime], None] | None = None

    def load(self) -> None:
        """Caches every stored function, so invokes never touch the database."""
        after: str | None = None
        while page := self.store.list(after, 1000):
            for record in page:
                self._cache(record)
            after = page[-1].name

    def _cache(self, record: FunctionRecord) -> Deployed:
        try:
            runtime: Runtime | None = self.runtimes.resolve(record.runtime)
        except InvalidParameterValueException:
            log.warning(
                "function %s: runtime %s is not available here", record.name, record.runtime
            )
            runtime = None
        deployed = Deployed(record, runtime, self.code.unpacked(record.code_sha256))
        self._deployed[record.name] = deployed
        if runtime is not None and self.on_deploy is not None:
            self.on_deploy(runtime)
        return deployed

    def _not_found(self, ref: FunctionRef) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Function not found: {self.arns.function(ref.name, ref.qualifier)}"
        )

    # ----- reads -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._deployed)

    def deployed(self, ref: FunctionRef) -> Deployed:
        check_unqualified_or_latest(ref, self.arns)
        deployed = self._deployed.get(ref.name)
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
                "UnreservedConcurrentExecutions": concurrency_limit,
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
        async with self._lock:
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
                **changes.values,
            )
            try:
                self.store.create(record)
            except StoreConflict:
                raise ResourceConflictException(f"Function already exist: {name}") from None
            self._cache(record)
            return record

    def _check_revision(self, record: FunctionRecord, body: JSONDict) -> None:
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
        self._cache(new)
        # The next invoke runs the new generation; environments of the old one are retired.
        self.invoker.pool.retire(new.name)
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
        async with self._lock:
            old = self.get(ref)
            self._check_revision(old, body)
            stored = await asyncio.to_thread(self.code.put, zip_bytes)
            new = old.updated(
                code_sha256=stored.sha256,
                code_size=stored.size,
                revision_id=str(uuid.uuid4()),
                last_modified=time.time(),
            )
            if body.get("DryRun"):
                # Validated and stored only to check it: drop the package if nothing uses it.
                if stored.sha256 != old.code_sha256:
                    self._collect(stored.sha256)
                return new
            return await self._replace(old, new)

    async def update_configuration(self, ref: FunctionRef, body: JSONDict) -> FunctionRecord:
        changes = validation.config_changes(body)
        if "runtime" in changes.values:
            self.runtimes.resolve(changes.values["runtime"])
        async with self._lock:
            old = self.get(ref)
            self._check_revision(old, body)
            new = old.updated(
                **changes.values, revision_id=str(uuid.uuid4()), last_modified=time.time()
            )
            return await self._replace(old, new)

    async def delete(self, ref: FunctionRef) -> None:
        async with self._lock:
            record = self.get(ref)
            self.store.delete(record.name)
            self._deployed.pop(record.name, None)
            self.invoker.pool.retire(record.name)
            self._collect(record.code_sha256)

    def _collect(self, sha256: str) -> None:
        """Deletes a package nothing refers to; one still running is deleted when it stops."""
        if self.store.code_in_use(sha256):
            return
        if self.invoker.pool.code_in_use(self.code.unpacked(sha256)):
            self._unreferenced.add(sha256)
            return
        self._unreferenced.discard(sha256)
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.code.remove, sha256))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_environment_dead(self, env: object) -> None:
        for sha256 in list(self._unreferenced):
            self._collect(sha256)

    # ----- invocation ------------------------------------------------------------------------
    def _runnable(self, ref: FunctionRef) -> tuple[Deployed, Runtime]:
        deployed = self.deployed(ref)
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
    ) -> InvocationResult:
        deployed, runtime = self._runnable(ref)
        return await self.invoker.invoke(
            deployed.record, runtime, deployed.code_dir, payload, client_context, request_id
        )

    def invoke_event(self, ref: FunctionRef, payload: bytes) -> str:
        """Accepts an Event invocation and returns its request id; it runs in the background."""
        self._runnable(ref)
        request_id = new_request_id()
        task = asyncio.get_running_loop().create_task(self._run_event(ref, payload, request_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return request_id

    async def _run_event(self, ref: FunctionRef, payload: bytes, request_id: str) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.max_event_age_s
        delay = self.throttle_retry_s
        while True:
            try:
                await self.invoke(ref, payload, request_id=request_id)
                return
            except TooManyRequestsException:
                if loop.time() > give_up:
                    log.warning("dropping an event for %s: no capacity before it expired", ref.name)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except ResourceNotFoundException:
                return  # deleted while the event waited

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

"""The invoke path: a reference resolved through the catalog, run on a worker, its outcome told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from firebox.control.catalog import Catalog, Deployed
from firebox.control.events import EventBus, Invoked
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import InvalidRuntimeException, TooManyRequestsException
from firebox.invoke.invoker import Invoker
from firebox.runtimes.registry import Runtime
from firebox.worker.invocation import InvocationResult


class Meter(Protocol):
    """What is told of every invoke: its start, and how it ended (metrics/lambda_metrics.py)."""

    def started(self, name: str) -> object: ...

    def throttled(self, name: str, qualifier: str | None, start: object) -> None: ...

    def abandoned(self, name: str, start: object) -> None: ...

    def finished(
        self, name: str, qualifier: str | None, start: object, version: str, failed: bool,
        duration_ms: float, memory_mb: int, ephemeral_mb: int, architecture: str,
        on_provisioned: bool,
    ) -> None: ...  # fmt: skip


class NoMeter:
    """Tells nobody (tests, and the benchmark's baseline)."""

    def started(self, name: str) -> object:
        return None

    def throttled(self, name: str, qualifier: str | None, start: object) -> None:
        pass

    def abandoned(self, name: str, start: object) -> None:
        pass

    def finished(self, *args: object) -> None:
        pass


class InvokeService:
    """Runs invocations of qualified references (sync, streaming, and each Event attempt)."""

    def __init__(
        self, catalog: Catalog, invoker: Invoker, bus: EventBus, meter: Meter | None = None
    ) -> None:
        self.catalog = catalog
        self.invoker = invoker
        self.bus = bus
        self.meter: Meter = meter or NoMeter()

    def runnable(self, ref: FunctionRef, route: bool = False) -> tuple[Deployed, Runtime]:
        """What a reference runs (an alias routed by its weights when `route`), and on what."""
        deployed = self.catalog.deployed(ref, route)
        if deployed.runtime is None:
            raise InvalidRuntimeException(
                f"The runtime {deployed.record.runtime} of this function is not available on this "
                f"firebox host. Available runtimes: {', '.join(self.catalog.runtimes.available())}"
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
        trace_id: str | None = None,
    ) -> InvocationResult:
        """Runs one invocation; on_chunk gets a streaming handler's output as it comes.

        `deployed` is what the reference resolved to, when the caller had to know first.
        """
        if deployed is None:
            deployed, runtime = self.runnable(ref, route=True)
        elif deployed.runtime is None:
            deployed, runtime = self.runnable(ref)  # raises the runtime's error
        else:
            runtime = deployed.runtime
        invoked_arn = self.catalog.arns.function(ref.name, ref.qualifier)
        record = deployed.record
        start = self.meter.started(ref.name)
        try:
            result = await self.invoker.invoke(
                record, runtime, deployed.code_dir, payload, client_context, request_id,
                invoked_arn, on_chunk, trace_id,
            )  # fmt: skip
        except TooManyRequestsException:
            self.meter.throttled(ref.name, ref.qualifier, start)
            raise
        except BaseException:
            self.meter.abandoned(ref.name, start)
            raise
        failed = result.function_error is not None
        self.meter.finished(
            ref.name, ref.qualifier, start, result.executed_version, failed, result.duration_ms,
            record.memory_size, record.ephemeral_storage, record.architectures[0],
            result.provisioned,
        )  # fmt: skip
        self.bus.publish(Invoked(ref.name, ref.qualifier, result.executed_version, failed))
        return result

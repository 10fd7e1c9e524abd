"""Runs one invocation: take an environment, hand it the event, give the environment back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from firebox.domain.records import FunctionRecord
from firebox.runtimes.registry import Runtime
from firebox.worker.invocation import Invocation, InvocationResult
from firebox.worker.pool import EnvironmentPool


class Invoker:
    """Takes an environment from the pool, hands it the event, and gives it back."""

    def __init__(self, pool: EnvironmentPool) -> None:
        self.pool = pool

    async def invoke(
        self,
        record: FunctionRecord,
        runtime: Runtime,
        code_dir: Path,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        invoked_arn: str | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
        trace_id: str | None = None,
    ) -> InvocationResult:
        env = await self.pool.acquire(record, runtime, code_dir)
        invocation = Invocation(payload, client_context, trace_id, invoked_arn, on_chunk=on_chunk)
        if request_id:
            invocation.request_id = request_id
        try:
            env.assign(invocation)
            return await invocation.future
        finally:
            self.pool.release(env)

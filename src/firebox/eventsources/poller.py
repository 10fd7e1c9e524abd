"""A mapping's pollers: batches from a source, filtered, handed to the function, settled.

Up to the mapping's maximum concurrency of workers take turns gathering a batch from the
source (a long poll: no fixed interval) and invoke in parallel, so a message on an idle
queue reaches the handler at once and a backlog is drained by as many batches in parallel as
allowed. Throttles and failures back off
exponentially; failed records return through the source's own retry (SQS: the visibility
timeout, then the queue's redrive policy).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from firebox import filtering
from firebox.control.event_sources import EventSourceMapping
from firebox.domain.errors import LambdaError, TooManyRequestsException
from firebox.eventsources.base import Record, Source
from firebox.worker.invocation import InvocationResult

log = logging.getLogger("firebox.eventsources")
MAX_PAYLOAD = 6 * 1024 * 1024 - 1024  # an invoke's 6 MB, less the event's envelope
BACKOFF_S = (0.1, 30.0)  # first and longest wait after a throttle or failure

Invoke = Callable[[EventSourceMapping, bytes], Awaitable[InvocationResult]]


class Poller:
    """The workers of one mapping."""

    def __init__(self, mapping: EventSourceMapping, source: Source, invoke: Invoke,
                 record: Callable[[str, str], None],
                 observe: Callable[[str, str, int], None] | None = None) -> None:  # fmt: skip
        self.mapping = mapping
        self.source = source
        self.invoke = invoke
        self.record = record  # (uuid, LastProcessingResult)
        self.observe = observe  # (metric, uuid, count): PolledEventCount, FilteredOutEventCount
        self.patterns = mapping.patterns()
        self._tasks: list[asyncio.Task[None]] = []
        # One worker gathers a batch at a time (the others invoke meanwhile): a window fills
        # one batch instead of splitting its messages among idle workers.
        self._gathering = asyncio.Lock()
        self._busy: set[asyncio.Task[None]] = set()  # workers with a batch in hand
        self._stopping = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work()) for _ in range(self.mapping.concurrency)]

    def stop(self) -> None:
        """Takes no new batch; a worker waiting for one stops now, one with a batch in hand
        finishes it (invoke and settle), so nothing processed is processed again."""
        self._stopping = True
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        self._tasks = []

    async def _work(self) -> None:
        backoff = 0.0
        while not self._stopping:
            try:
                ok = await self._one()
                backoff = 0.0 if ok else min(BACKOFF_S[1], max(BACKOFF_S[0], backoff * 2))
            except asyncio.CancelledError:
                raise
            except LambdaError as exc:  # the queue went away, say
                self.record(self.mapping.uuid, f"PROBLEM: {exc.message}")
                backoff = min(BACKOFF_S[1], max(BACKOFF_S[0], backoff * 2))
            except Exception:  # a poller must outlive any one batch
                log.exception("event source mapping %s: batch failed", self.mapping.uuid)
                backoff = min(BACKOFF_S[1], max(BACKOFF_S[0], backoff * 2))
            if backoff:
                await asyncio.sleep(backoff)

    async def _one(self) -> bool:
        """One batch; False when the function was throttled or failed (back off)."""
        m = self.mapping
        async with self._gathering:
            records = await self.source.next_batch(m.batch_size, m.window_s, MAX_PAYLOAD)
        if not records:
            return True
        if self.observe is not None:
            self.observe("PolledEventCount", m.uuid, len(records))
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        try:
            return await self._handle(records)
        finally:
            self._busy.discard(task)

    async def _handle(self, records: list[Record]) -> bool:
        m = self.mapping
        if self.patterns:  # filtered out: consumed without an invoke, as Lambda does
            dropped = [r for r in records
                       if not any(filtering.matches(p, r.view) for p in self.patterns)]  # fmt: skip
            if dropped:
                await self.source.settle(dropped, [])
                if self.observe is not None:
                    self.observe("FilteredOutEventCount", self.mapping.uuid, len(dropped))
                records = [r for r in records if r not in dropped]
            if not records:
                return True
        payload = json.dumps({"Records": [r.event for r in records]}).encode()
        try:
            result = await self.invoke(m, payload)
        except TooManyRequestsException:
            await self.source.release(records)
            self.record(m.uuid, "PROBLEM: Function call throttled")
            return False
        if result.function_error is not None:
            await self.source.settle([], records)
            self.record(m.uuid, "PROBLEM: Function call failed")
            return False
        failed = self._failed(records, result.payload)
        await self.source.settle([r for r in records if r not in failed], failed)
        self.record(m.uuid, "OK")
        return not failed

    def _failed(self, records: list[Record], payload: bytes) -> list[Record]:
        """With ReportBatchItemFailures, the records the function named; a response that does
        not name them properly fails the whole batch (as Lambda treats it)."""
        if "ReportBatchItemFailures" not in self.mapping.response_types:
            return []
        try:
            response: Any = json.loads(payload or b"null")
        except ValueError:
            return records
        if not isinstance(response, dict) or response.get("batchItemFailures") in (None, []):
            return []
        items = response["batchItemFailures"]
        ids = {r.id for r in records}
        if not isinstance(items, list):
            return records
        named = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(identifier, str) or identifier not in ids:
                return records
            named.add(identifier)
        return [r for r in records if r.id in named]

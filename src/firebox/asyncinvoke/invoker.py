"""Event invocations: a durable queue drained by the pool, retries, destinations, DLQ."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from firebox.asyncinvoke.destinations import deliver
from firebox.asyncinvoke.queue import EventQueue, NewEvent, QueuedEvent, Settlement
from firebox.asyncinvoke.queue.batching import GroupCommit
from firebox.control.event_configs import EventConfigs, EventInvokeConfig
from firebox.domain.arns import FunctionRef
from firebox.domain.destinations import parse as parse_destination
from firebox.domain.errors import InvalidRuntimeException, LambdaError, TooManyRequestsException
from firebox.domain.records import utc_stamp
from firebox.domain.types import JSONDict
from firebox.invoke.service import InvokeService
from firebox.worker.invocation import InvocationResult, new_request_id

log = logging.getLogger("firebox.async")

SUCCEEDED, FAILED, EXPIRED, DROPPED = "succeeded", "failed", "expired", "dropped"
PREFETCH = 64  # due events read from the queue at once


def _json_or_text(payload: bytes) -> object:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


class AsyncInvoker:
    """Accepts Event invocations onto a durable queue and runs them through the pool."""

    def __init__(
        self,
        invokes: InvokeService,
        queue: EventQueue,
        configs: EventConfigs,
        max_in_flight: int,
        retry_delay_s: float = 60.0,
        throttle_delay_s: float = 0.1,
        max_throttle_delay_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.invokes = invokes
        self.catalog = invokes.catalog
        self.queue = queue
        self.configs = configs
        self.max_in_flight = max_in_flight
        self.retry_delay_s = retry_delay_s  # attempt n waits n × this (AWS: ~1, then ~2 min)
        self.throttle_delay_s = throttle_delay_s  # doubles per throttle of an event, up to:
        self.max_throttle_delay_s = max_throttle_delay_s
        self._throttles: dict[int, int] = {}  # event id → throttles in a row (memory only)
        self.clock = clock
        self._in_flight: dict[int, str] = {}  # event id → function name
        self._ready: collections.deque[QueuedEvent] = collections.deque()  # fetched, due
        self._wake = asyncio.Event()
        # Group commits: accepted events (each fsync'd before its 202) and attempts' results.
        self._accepted: GroupCommit[NewEvent] = GroupCommit(queue.put, self._wake.set)
        self._settled: GroupCommit[Settlement] = GroupCommit(queue.settle)
        self._task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()

    # ----- accepting ------------------------------------------------------------------------
    async def accept(self, ref: FunctionRef, payload: bytes) -> str:
        """Stores an event durably (fsync'd) and returns its request id; runs it later."""
        self.catalog.deployed(ref)  # unknown function or qualifier: refused now, not later
        request_id = new_request_id()
        await self._accepted.submit(
            NewEvent(ref.name, ref.qualifier, payload, request_id, self.clock())
        )
        return request_id

    # ----- draining -------------------------------------------------------------------------
    def start(self) -> None:
        """Starts draining; events a crashed predecessor had in flight simply run again."""
        self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Keeps up to max_in_flight attempts running, from a prefetched buffer of due events."""
        while True:
            self._wake.clear()
            free = self.max_in_flight - len(self._in_flight)
            if free > 0 and not self._ready:
                known = set(self._in_flight)
                fetched = await asyncio.to_thread(
                    self.queue.due, self.clock(), max(free, PREFETCH), known
                )
                self._ready.extend(fetched)
            while free > 0 and self._ready:
                event = self._ready.popleft()
                self._in_flight[event.id] = event.function_name
                task = asyncio.get_running_loop().create_task(self._attempt(event))
                self._attempts.add(task)
                task.add_done_callback(self._attempts.discard)
                free -= 1
            if free > 0 and self._ready:
                continue
            timeout = None
            if free > 0:  # nothing due now: sleep until the next retry is, or news arrives
                next_due = await asyncio.to_thread(self.queue.next_due, set(self._in_flight))
                if next_due is not None:
                    timeout = max(0.0, next_due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attempt(self, event: QueuedEvent) -> None:
        try:
            settlement = await self._run(event)
        except Exception:  # a bug must not stall the queue: the event stays and runs again
            log.exception("async invoke of %s failed in firebox", event.function_name)
            settlement = Settlement(event, "throttled", attempts=event.attempts,
                                    not_before=self.clock() + 1.0,
                                    last_response=event.last_response)  # fmt: skip
        try:
            # Still in flight until its result is stored, so it cannot be fetched twice.
            await self._settled.submit(settlement)
        finally:
            self._in_flight.pop(event.id, None)
            self._wake.set()

    async def _run(self, event: QueuedEvent) -> Settlement:
        """One attempt; says what to do with the event."""
        config = self.configs.effective(event.function_name, event.qualifier)
        if self.clock() - event.enqueued_at > config.max_age_s:
            return self._fail(event, config, "EventAgeExceeded", EXPIRED)
        ref = FunctionRef(event.function_name, event.qualifier)
        try:
            result = await self.invokes.invoke(ref, event.payload, request_id=event.request_id)
        except (TooManyRequestsException, InvalidRuntimeException):
            # No capacity (or the host lacks the runtime for now): wait, backing off, without
            # using an attempt; the event's maximum age still applies.
            count = self._throttles.get(event.id, 0)
            self._throttles[event.id] = count + 1
            delay = min(self.throttle_delay_s * 2**count, self.max_throttle_delay_s)
            return Settlement(event, "throttled", attempts=event.attempts,
                              not_before=self.clock() + delay,
                              last_response=event.last_response)  # fmt: skip
        except LambdaError as exc:  # deleted meanwhile: nothing can run it
            log.warning("dropping an event for %s: %s", event.function_name, exc.message)
            return Settlement(event, DROPPED)
        self._throttles.pop(event.id, None)
        attempts = event.attempts + 1
        response = self._response(result)
        if result.function_error is None:
            follow = self._record(event, config.on_success, "Success", attempts, response, result)
            return Settlement(event, SUCCEEDED, tuple(follow))
        retry_at = self.clock() + self.retry_delay_s * attempts
        done = replace(event, attempts=attempts, last_response=response)
        if attempts > config.retries:
            return self._fail(done, config, "RetriesExhausted", FAILED)
        if retry_at - event.enqueued_at > config.max_age_s:
            return self._fail(done, config, "EventAgeExceeded", EXPIRED)  # expires before then
        return Settlement(event, "retried", attempts=attempts, not_before=retry_at,
                          last_response=response)  # fmt: skip

    def _fail(
        self, event: QueuedEvent, config: EventInvokeConfig, condition: str, outcome: str
    ) -> Settlement:
        follow = self._record(event, config.on_failure, condition, event.attempts,
                              event.last_response, None)  # fmt: skip
        self._throttles.pop(event.id, None)
        try:  # the dead-letter config of the version that ran (versions keep their own)
            record = self.catalog.deployed(FunctionRef(event.function_name, event.qualifier)).record
        except LambdaError:
            record = None
        if record is not None and record.dead_letter_target:
            # The dead-letter target gets the original event, as a queue would.
            target = parse_destination(record.dead_letter_target)
            follow += deliver(target, event.payload, "dead-letter", self.clock())
        return Settlement(event, outcome, tuple(follow))

    @staticmethod
    def _response(result: InvocationResult) -> str:
        context: JSONDict = {"statusCode": 200, "executedVersion": result.executed_version}
        if result.function_error:
            context["functionError"] = result.function_error
        return json.dumps({"context": context, "payload": _json_or_text(result.payload)})

    def _record(
        self,
        event: QueuedEvent,
        destination: str | None,
        condition: str,
        attempts: int,
        response: str | None,
        result: InvocationResult | None,
    ) -> list[NewEvent]:
        """The invocation record a destination receives (Lambda's shape), as a new event."""
        if not destination:
            return []
        qualifier = event.qualifier or (result.executed_version if result else "$LATEST")
        record: JSONDict = {
            "version": "1.0",
            "timestamp": utc_stamp(),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": self.catalog.arns.function(event.function_name, qualifier),
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": _json_or_text(event.payload),
        }
        if response is not None:
            last = json.loads(response)
            record["responseContext"] = last["context"]
            record["responsePayload"] = last["payload"]
        target = parse_destination(destination)
        return deliver(target, json.dumps(record).encode(), "destination", self.clock())

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function's waiting events go with it (never run by a re-created one)."""
        if qualifier is None:
            self.queue.purge(function_name, exclude=set(self._in_flight))

    # ----- visibility -----------------------------------------------------------------------
    async def stats(self) -> dict[str, dict[str, float]]:
        """Per function: waiting, in flight, retrying, outcomes so far, oldest age."""
        stored = await asyncio.to_thread(self.queue.stats)
        in_flight = Counter(self._in_flight.values())
        now = self.clock()
        result: dict[str, dict[str, float]] = {}
        for name in sorted(set(stored) | set(in_flight)):
            row = dict(stored.get(name, {}))
            oldest = row.pop("oldest", None)
            row["waiting"] = row.get("waiting", 0) - in_flight[name]
            row["in_flight"] = in_flight[name]
            row["oldest_age_s"] = round(now - oldest, 3) if oldest else 0.0
            result[name] = row
        return result

    def stop_draining(self) -> None:
        """Starts no more attempts (the server is stopping); those running go on."""
        if self._task is not None:
            self._task.cancel()

    def cancel_attempts(self) -> None:
        """Abandons the running attempts: their events stay queued, no attempt used, and run
        again after the next start (as after a crash)."""
        for task in list(self._attempts):
            task.cancel()

    async def close(self) -> None:
        self.stop_draining()
        self.cancel_attempts()
        await asyncio.gather(*self._attempts, *([self._task] if self._task else []),
                             return_exceptions=True)  # fmt: skip

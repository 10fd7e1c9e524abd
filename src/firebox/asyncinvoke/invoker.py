"""Event invocations: a durable queue drained by the pool, retries, destinations, DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

from firebox.asyncinvoke import policies
from firebox.asyncinvoke.destinations import SEND, deliver, send_source
from firebox.asyncinvoke.queue import EventQueue, NewEvent, QueuedEvent, Settlement
from firebox.control.event_configs import EventConfigs, EventInvokeConfig
from firebox.domain.arns import FunctionRef
from firebox.domain.destinations import parse as parse_destination
from firebox.domain.errors import InvalidRuntimeException, LambdaError, TooManyRequestsException
from firebox.domain.records import utc_stamp
from firebox.domain.types import JSONDict
from firebox.invoke.service import InvokeService
from firebox.sending import Send, TargetGone
from firebox.storage.group_commit import GroupCommit
from firebox.worker.invocation import InvocationResult, new_request_id

log = logging.getLogger("firebox.async")

# How long an attempt may hold its event: Lambda's longest timeout and init, and a margin. A
# consumer that dies holds its events until then (a restarted one frees its predecessor's at
# once, see start()).
LEASE_S = 900 + 10 + 110


def _json_or_text(payload: bytes) -> object:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


def _owner_alive(owner: str, me: str) -> bool | None:
    """Whether a lease owner's process lives: None when it is on another host (unknowable).
    One with this process's pid but not its name was a predecessor whose pid came round."""
    host, _, rest = owner.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return owner == me
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AsyncInvoker:
    """Accepts Event invocations onto a durable queue and runs them through the invoke path,
    holding each event it runs with a lease, so several consumers can share the queue."""

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
        self.clock = clock
        # This consumer's name on its leases: host and pid say whether it still lives.
        self.owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._throttled = policies.Throttled(throttle_delay_s, max_throttle_delay_s)
        self.before: list[policies.Rule] = [policies.too_old]
        self.after: list[policies.Rule] = [
            self._throttled, policies.gone, policies.succeeded, policies.retries_exhausted,
            policies.retry_later(retry_delay_s),
        ]  # fmt: skip
        self._running: dict[int, asyncio.Task[None]] = {}  # event id → its attempt
        self._wake = asyncio.Event()
        # Group commits: accepted events (each fsync'd before its 202) and attempts' results.
        self._accepted: GroupCommit[NewEvent] = GroupCommit(queue.put, self._wake.set)
        self._settled: GroupCommit[Settlement] = GroupCommit(queue.settle)
        self._task: asyncio.Task[None] | None = None
        # Hands records to queues, topics and buses (sending.Senders.send), once built.
        self.sender: Callable[[Send], Awaitable[None]] | None = None
        # Told of AsyncEventsReceived, AsyncEventAge (ms) and AsyncEventsDropped:
        # (metric, function, qualifier, value)
        self.observe: Callable[[str, str, str | None, float], None] | None = None

    # ----- accepting ------------------------------------------------------------------------
    async def accept(self, ref: FunctionRef, payload: bytes, trace_id: str | None = None) -> str:
        """Stores an event durably (fsync'd) and returns its request id; runs it later."""
        self.catalog.deployed(ref)  # unknown function or qualifier: refused now, not later
        request_id = new_request_id()
        await self._accepted.submit(
            NewEvent(ref.name, ref.qualifier, payload, request_id, self.clock(), trace_id=trace_id)
        )
        if self.observe is not None:
            self.observe("AsyncEventsReceived", ref.name, ref.qualifier, 1)
        return request_id

    # ----- draining -------------------------------------------------------------------------
    def start(self) -> None:
        """Starts draining. Leases a dead predecessor on this host held are given back first
        (its events run again: at-least-once); another host's run out with time."""
        for owner in self.queue.owners():
            if _owner_alive(owner, self.owner) is False:
                released = self.queue.release(owner)
                log.info("%d queued events held by a stopped consumer are due again", released)
        self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Keeps up to max_in_flight attempts running, each on an event it leased."""
        while True:
            self._wake.clear()
            free = self.max_in_flight - len(self._running)
            if free > 0:
                leased = await asyncio.to_thread(
                    self.queue.lease, self.owner, self.clock(), free, LEASE_S
                )
                for event in leased:
                    task = asyncio.get_running_loop().create_task(self._attempt(event))
                    self._running[event.id] = task
                if len(leased) == free:
                    continue  # there may be more: look again once a slot frees (the wake)
            timeout = None
            if len(self._running) < self.max_in_flight:  # sleep until the next is due, or news
                next_due = await asyncio.to_thread(self.queue.next_due, self.clock())
                if next_due is not None:
                    timeout = max(0.0, next_due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _attempt(self, event: QueuedEvent) -> None:
        try:
            settlement = await self._run(event)
        except Exception:  # a bug must not stall the queue: the event stays and runs again
            log.exception("async invoke of %s failed in firebox", event.function_name)
            settlement = Settlement(event, policies.THROTTLED, attempts=event.attempts,
                                    not_before=self.clock() + 1.0,
                                    last_response=event.last_response)  # fmt: skip
        try:
            await self._settled.submit(settlement)  # ends the lease
        finally:
            self._running.pop(event.id, None)
            self._wake.set()

    async def _run(self, event: QueuedEvent) -> Settlement:
        """One attempt: the rules before it, the invoke, the rules after it."""
        if event.kind == SEND:
            return await self._send(event)
        config = self.configs.effective(event.function_name, event.qualifier)
        attempt = policies.Attempt(event, config, self.clock())
        decision = policies.decide(self.before, attempt)
        if decision is None:
            ref = FunctionRef(event.function_name, event.qualifier)
            if self.observe is not None and event.kind != "send":
                age_ms = max(0.0, (self.clock() - event.enqueued_at) * 1000)
                self.observe("AsyncEventAge", event.function_name, event.qualifier, age_ms)
            try:
                result = await self.invokes.invoke(
                    ref, event.payload, request_id=event.request_id, trace_id=event.trace_id
                )
                attempt = replace(attempt, result=result, now=self.clock())
            except LambdaError as exc:
                if not isinstance(exc, TooManyRequestsException | InvalidRuntimeException):
                    log.warning("dropping an event for %s: %s", event.function_name, exc.message)
                attempt = replace(attempt, error=exc, now=self.clock())
            decision = policies.decide(self.after, attempt)
        assert decision is not None  # retry_later always decides
        return self._settlement(attempt, decision)

    async def _send(self, event: QueuedEvent) -> Settlement:
        """A record or dead letter for a queue, topic or bus, handed over (a send that
        fails in firebox is tried again by _attempt; one whose target is gone is dropped)."""
        assert self.sender is not None, "sends need the platform's senders"
        send = Send(event.function_name, event.payload.decode(), "", event.function_name)
        try:
            await self.sender(send)
        except TargetGone as exc:
            log.warning("a record for %s dropped: %s", event.function_name, exc)
            source = send_source(event.qualifier)
            if source is not None and self.observe is not None:
                metric = ("DeadLetterErrors" if (event.qualifier or "").startswith("dead-letter")
                          else "DestinationDeliveryFailures")  # fmt: skip
                self.observe(metric, source[0], source[1], 1)
            return Settlement(event, policies.DROPPED)
        return Settlement(event, policies.SUCCEEDED)

    def _settlement(self, attempt: policies.Attempt, decision: policies.Decision) -> Settlement:
        """The decision, as the queue stores it: with the records destinations receive."""
        event, config, result = attempt.event, attempt.config, attempt.result
        if decision.outcome == policies.THROTTLED:
            return Settlement(event, policies.THROTTLED, attempts=event.attempts,
                              not_before=decision.not_before,
                              last_response=event.last_response)  # fmt: skip
        self._throttled.forget(event.id)
        if decision.outcome == policies.DROPPED:
            return Settlement(event, policies.DROPPED)
        attempts = event.attempts + 1 if attempt.ran else event.attempts
        response = self._response(result) if result is not None else event.last_response
        if decision.outcome == policies.SUCCEEDED:
            follow = self._record(event, config.on_success, "Success", attempts, response, result)
            return Settlement(event, policies.SUCCEEDED, tuple(follow))
        if decision.outcome == policies.RETRIED:
            return Settlement(event, policies.RETRIED, attempts=attempts,
                              not_before=decision.not_before, last_response=response)  # fmt: skip
        done = replace(event, attempts=attempts, last_response=response)
        return self._fail(done, config, decision.condition, decision.outcome)

    def _fail(
        self, event: QueuedEvent, config: EventInvokeConfig, condition: str, outcome: str
    ) -> Settlement:
        follow = self._record(event, config.on_failure, condition, event.attempts,
                              event.last_response, None)  # fmt: skip
        try:  # the dead-letter config of the version that ran (versions keep their own)
            record = self.catalog.deployed(FunctionRef(event.function_name, event.qualifier)).record
        except LambdaError:
            record = None
        if record is not None and record.dead_letter_target:
            # The dead-letter target gets the original event, as a queue would.
            target = parse_destination(record.dead_letter_target)
            follow += deliver(target, event.payload, "dead-letter", self.clock(), self._arn(event))
        if self.observe is not None:  # dropped (after its DLQ or destination has it, if any)
            self.observe("AsyncEventsDropped", event.function_name, event.qualifier, 1)
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
        return deliver(target, json.dumps(record).encode(), "destination", self.clock(),
                       self._arn(event), condition)  # fmt: skip

    def _arn(self, event: QueuedEvent) -> str:
        return self.catalog.arns.function(event.function_name, event.qualifier or "$LATEST")

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function's waiting events go with it (never run by a re-created one); one
        being run ends with its attempt (dropped: the function is gone)."""
        if qualifier is None:
            self.queue.purge(function_name, self.clock())

    # ----- visibility -----------------------------------------------------------------------
    async def stats(self) -> dict[str, dict[str, float]]:
        """Per function: waiting, in flight (held by any consumer), retrying, outcomes so
        far, oldest age."""
        now = self.clock()
        stored = await asyncio.to_thread(self.queue.stats, now)
        result: dict[str, dict[str, float]] = {}
        for name in sorted(stored):
            row = dict(stored[name])
            oldest = row.pop("oldest", None)
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
        for task in list(self._running.values()):
            task.cancel()

    async def close(self) -> None:
        self.stop_draining()
        self.cancel_attempts()
        await asyncio.gather(*self._running.values(), *([self._task] if self._task else []),
                             return_exceptions=True)  # fmt: skip
        await asyncio.to_thread(self.queue.release, self.owner)  # due again at the next start

"""Event invocations in-process: two consumers sharing one queue, and the rules of an attempt.

The invoker is a fake (no sandboxes); consumers wait on events the fake signals, never on time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from firebox.asyncinvoke import policies
from firebox.asyncinvoke.invoker import AsyncInvoker
from firebox.asyncinvoke.queue import NewEvent, QueuedEvent, SqliteEventQueue
from firebox.control.event_configs import EventInvokeConfig
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import ResourceNotFoundException, TooManyRequestsException
from firebox.domain.records import FunctionRecord
from firebox.worker.invocation import InvocationResult
from harness import ControlPlane, new_function, run


def test_two_consumers_run_every_event_once(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path)
    queue = SqliteEventQueue(tmp_path / "queue.sqlite3")
    count = 40

    async def go() -> list[bytes]:
        everything_ran = asyncio.Event()
        await plane.functions.create(new_function("f"))

        def answer(record: FunctionRecord, payload: bytes) -> tuple[bytes, str | None]:
            if len(plane.invoker.calls) == count:
                everything_ran.set()
            return payload, None

        plane.invoker.answer = answer
        consumers = [AsyncInvoker(plane.invokes, queue, plane.event_configs, 4)
                     for _ in range(2)]  # fmt: skip
        await consumers[0].accept(FunctionRef("f"), b"0")
        now = time.time()
        queue.put([NewEvent("f", None, str(i).encode(), f"r{i}", now) for i in range(1, count)])
        for consumer in consumers:
            consumer.start()
        await asyncio.wait_for(everything_ran.wait(), 30)
        for consumer in consumers:
            await consumer.close()
        return [payload for _, _, payload in plane.invoker.calls]

    payloads = run(go())
    assert sorted(payloads, key=int) == [str(i).encode() for i in range(count)]  # each once
    stats = queue.stats(now=1e12)["f"]
    assert stats["succeeded"] == count and stats["waiting"] == stats["in_flight"] == 0


def test_a_dead_consumers_events_go_to_another_after_its_lease(tmp_path: Path) -> None:
    queue = SqliteEventQueue(tmp_path / "queue.sqlite3")
    queue.put([NewEvent("f", None, b"{}", "r", 0.0)])
    (held,) = queue.lease("other-host/1/x", now=1.0, limit=10, lease_s=60)
    assert queue.lease("me", now=30.0, limit=10, lease_s=60) == []  # still held
    (taken,) = queue.lease("me", now=61.0, limit=10, lease_s=60)  # the lease ran out
    assert taken.id == held.id


def _attempt(attempts: int = 0, age: float = 0.0, **changes: object) -> policies.Attempt:
    event = QueuedEvent(1, "f", None, b"{}", "r", 100.0 - age, attempts, 100.0, None, "invoke")
    config = EventInvokeConfig("f", "$LATEST", maximum_retry_attempts=2, maximum_event_age=600)
    return policies.Attempt(event, config, 100.0, **changes)  # type: ignore[arg-type]


def _result(error: str | None) -> InvocationResult:
    return InvocationResult(b"{}", error, "r", "", "$LATEST", "env", 1.0, None)


def test_the_rules_of_an_attempt() -> None:
    throttled = policies.Throttled(0.1, 30.0)
    after = [throttled, policies.gone, policies.succeeded, policies.retries_exhausted,
             policies.retry_later(60.0)]  # fmt: skip
    decide = policies.decide
    assert decide([policies.too_old], _attempt(age=601)) == policies.Decision(
        policies.EXPIRED, "EventAgeExceeded")  # fmt: skip
    assert decide([policies.too_old], _attempt(age=599)) is None
    assert decide(after, _attempt(result=_result(None))).outcome == policies.SUCCEEDED
    first = decide(after, _attempt(result=_result("Unhandled")))
    assert first == policies.Decision(policies.RETRIED, not_before=160.0)  # 1 × 60 s
    assert decide(after, _attempt(attempts=1, result=_result("Unhandled"))).not_before == 220.0
    assert decide(after, _attempt(attempts=2, result=_result("Unhandled"))) == (
        policies.Decision(policies.FAILED, "RetriesExhausted"))  # fmt: skip
    # A retry after the maximum age: expires at once rather than waiting for nothing.
    late = decide(after, _attempt(age=550, result=_result("Unhandled")))
    assert late == policies.Decision(policies.EXPIRED, "EventAgeExceeded")
    # Throttles back off (0.1, 0.2, 0.4 s …) without using an attempt; a deleted function drops.
    busy = TooManyRequestsException("Rate Exceeded.")
    delays = [decide(after, _attempt(error=busy)) for _ in range(3)]
    assert [round(d.not_before - 100.0, 3) for d in delays if d] == [0.1, 0.2, 0.4]
    throttled.forget(1)
    assert decide(after, _attempt(error=busy)).not_before == 100.1  # type: ignore[union-attr]
    gone = ResourceNotFoundException("Function not found")
    assert decide(after, _attempt(error=gone)) == policies.Decision(policies.DROPPED)

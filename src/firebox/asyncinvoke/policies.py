"""What becomes of an attempt of a queued event: small rules, applied in order.

Each rule looks at one attempt and either decides (a Decision) or passes (None); the first
decision wins. `before` rules run before the function is invoked, `after` rules once it ran
or could not run. The defaults are Lambda's asynchronous invocation: maximum event age,
throttles waiting without using an attempt, retries with growing delays, then failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from firebox.asyncinvoke.queue import QueuedEvent
from firebox.control.event_configs import EventInvokeConfig
from firebox.domain.errors import InvalidRuntimeException, LambdaError, TooManyRequestsException
from firebox.worker.invocation import InvocationResult

SUCCEEDED, FAILED, EXPIRED, DROPPED = "succeeded", "failed", "expired", "dropped"
RETRIED, THROTTLED = "retried", "throttled"


@dataclass(frozen=True)
class Attempt:
    """One attempt of an event, as the rules see it."""

    event: QueuedEvent
    config: EventInvokeConfig
    now: float
    result: InvocationResult | None = None  # the function's answer, once it ran
    error: LambdaError | None = None  # why it could not run

    @property
    def ran(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Decision:
    """What to do with the event: finish it (with a condition for its records) or try again."""

    outcome: str  # SUCCEEDED | FAILED | EXPIRED | DROPPED | RETRIED | THROTTLED
    condition: str = ""  # for failure records: RetriesExhausted, EventAgeExceeded
    not_before: float = 0.0  # RETRIED and THROTTLED: when to try again


# A rule: a decision about an attempt, or None to let the next rule decide.
Rule = Callable[[Attempt], Decision | None]


def decide(rules: Sequence[Rule], attempt: Attempt) -> Decision | None:
    """The first rule's decision, if any decides."""
    for rule in rules:
        decision = rule(attempt)
        if decision is not None:
            return decision
    return None


def too_old(attempt: Attempt) -> Decision | None:
    """Past its maximum age before an attempt: it expires without running."""
    if attempt.now - attempt.event.enqueued_at > attempt.config.max_age_s:
        return Decision(EXPIRED, "EventAgeExceeded")
    return None


class Throttled:
    """No capacity (or the host lacks the runtime for now): try again soon, backing off, without
    using an attempt (the maximum age still applies)."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s, self.max_s = first_s, max_s
        self._counts: dict[int, int] = {}  # event id → throttles in a row (memory only)

    def __call__(self, attempt: Attempt) -> Decision | None:
        event = attempt.event
        if not isinstance(attempt.error, TooManyRequestsException | InvalidRuntimeException):
            return None
        count = self._counts.get(event.id, 0)
        self._counts[event.id] = count + 1
        delay = min(self.first_s * 2**count, self.max_s)
        return Decision(THROTTLED, not_before=attempt.now + delay)

    def forget(self, event_id: int) -> None:
        """The event is done with (settled for good): its count goes."""
        self._counts.pop(event_id, None)


def gone(attempt: Attempt) -> Decision | None:
    """Could not run for another reason (the function was deleted): nothing ever will."""
    return Decision(DROPPED) if attempt.error is not None else None


def succeeded(attempt: Attempt) -> Decision | None:
    if attempt.result is not None and attempt.result.function_error is None:
        return Decision(SUCCEEDED)
    return None


def retries_exhausted(attempt: Attempt) -> Decision | None:
    if attempt.event.attempts + 1 > attempt.config.retries:
        return Decision(FAILED, "RetriesExhausted")
    return None


def retry_later(delay_s: float) -> Rule:
    """Attempt n waits n × delay_s (AWS: ~1, then ~2 minutes); an event whose retry would come
    after its maximum age expires now instead of waiting for that."""

    def rule(attempt: Attempt) -> Decision | None:
        retry_at = attempt.now + delay_s * (attempt.event.attempts + 1)
        if retry_at - attempt.event.enqueued_at > attempt.config.max_age_s:
            return Decision(EXPIRED, "EventAgeExceeded")
        return Decision(RETRIED, not_before=retry_at)

    return rule

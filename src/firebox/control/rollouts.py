"""Gradual rollouts: shift an alias to a new version step by step, roll back on errors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from firebox.control.catalog import Catalog
from firebox.control.events import Invoked
from firebox.control.releases import AliasChange, Releases
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    InvalidParameterValueException,
    LambdaError,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST

log = logging.getLogger("firebox.control.rollouts")

IN_PROGRESS, COMPLETED, ROLLED_BACK, ABORTED = "InProgress", "Completed", "RolledBack", "Aborted"


@dataclass
class Rollout:
    """One alias moving from one version to another; stored as a JSON document."""

    function_name: str
    alias: str
    from_version: str
    to_version: str
    steps: list[int]  # percent of traffic on to_version, ending at 100
    interval_s: float
    max_error_rate: float
    min_invocations: int
    # A step ends only once this many invokes of to_version were seen in it (0: on time).
    min_step_invocations: int = 0
    state: str = IN_PROGRESS
    step: int = 0  # index into steps
    step_started: float = 0.0  # epoch seconds
    reason: str = ""
    alias_revision: str = ""  # the alias as this rollout last set it; any other change aborts
    # Per finished or current step: weight, invocations and errors of to_version seen.
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class RolloutPlan:
    """A rollout to start: an alias of a function moved to a published version, step by step."""

    function_name: str
    alias: str
    to_version: str
    steps: tuple[int, ...] = (10, 50, 100)  # percent on to_version at each step, ending at 100
    interval_s: float = 300
    max_error_rate: float = 0.05
    min_invocations: int = 10  # invokes of to_version needed to roll back mid-step
    min_step_invocations: int = 0  # a step ends only once it has seen this many (0: on time)

    def check(self) -> None:
        steps = list(self.steps)
        if (not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps))
                or steps[-1] != 100):  # fmt: skip
            raise InvalidParameterValueException(
                "Steps must be increasing percentages from 1 to 100, ending at 100 "
                "(e.g. 10,50,100)."
            )
        for member, value, low, high in (
            ("IntervalSeconds", self.interval_s, 0, 7 * 86400),
            ("MaxErrorRate", self.max_error_rate, 0, 1),
            ("MinInvocations", self.min_invocations, 1, 1_000_000),
            ("MinStepInvocations", self.min_step_invocations, 0, 1_000_000),
        ):
            if not low <= value <= high:
                raise InvalidParameterValueException(
                    f"{member} must be a number from {low} to {high}."
                )
        if self.to_version == LATEST or not self.to_version.isdigit():
            raise InvalidParameterValueException("ToVersion must be a published version.")


class RolloutManager:
    """Runs every rollout of a server; their state is durable, so a restart resumes them."""

    def __init__(
        self, catalog: Catalog, releases: Releases, clock: Callable[[], float] = time.time
    ) -> None:
        self.catalog = catalog
        self.releases = releases
        self.store = catalog.store
        self.clock = clock
        self._rollouts: dict[tuple[str, str], Rollout] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._held: set[tuple[str, str]] = set()  # interval over, waiting for invocations
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False  # stopping: invokes ended by the shutdown are not the version's

    def load(self) -> None:
        """Loads stored rollouts and resumes those in progress (counts restart at zero)."""
        for doc in self.store.rollouts():
            rollout = Rollout(**doc)  # type: ignore[arg-type]
            self._rollouts[(rollout.function_name, rollout.alias)] = rollout
            if rollout.state == IN_PROGRESS:
                elapsed = self.clock() - rollout.step_started
                self._schedule(rollout, max(0.0, rollout.interval_s - elapsed))

    def get(self, function_name: str, alias: str) -> Rollout:
        rollout = self._rollouts.get((function_name, alias))
        if rollout is None:
            raise ResourceNotFoundException(f"No rollout for alias {alias} of {function_name}")
        return rollout

    def list(self) -> list[Rollout]:
        return sorted(self._rollouts.values(), key=lambda r: (r.function_name, r.alias))

    async def start(self, plan: RolloutPlan) -> Rollout:
        plan.check()
        name, alias_name, to_version = plan.function_name, plan.alias, plan.to_version
        async with self.catalog.lock:
            alias = self.releases.get_alias(FunctionRef(name), alias_name)
            current = self._rollouts.get((name, alias_name))
            if current is not None and current.state == IN_PROGRESS:
                raise ResourceConflictException(
                    f"A rollout of alias {alias_name} is already in progress; abort it first."
                )
            if self.catalog.version(name, to_version) is None:
                raise ResourceNotFoundException(
                    f"Function not found: {self.catalog.arns.function(name, to_version)}"
                )
            if alias.weights:
                raise InvalidParameterValueException(
                    f"Alias {alias_name} already splits traffic; give it one version first."
                )
            if alias.function_version in (to_version, LATEST):
                raise InvalidParameterValueException(
                    f"Alias {alias_name} points at {alias.function_version}: a rollout moves "
                    "an alias from one published version to another."
                )
            rollout = Rollout(name, alias_name, alias.function_version, to_version,
                              list(plan.steps), float(plan.interval_s), float(plan.max_error_rate),
                              plan.min_invocations, plan.min_step_invocations,
                              alias_revision=alias.revision_id)  # fmt: skip
            self._rollouts[(name, alias_name)] = rollout
            self._enter_step(rollout, 0)
        return rollout

    async def abort(self, function_name: str, alias: str) -> Rollout:
        async with self.catalog.lock:
            rollout = self.get(function_name, alias)
            if rollout.state == IN_PROGRESS:
                self._finish(rollout, ABORTED, "aborted by request")
            return rollout

    def close(self) -> None:
        """Stops judging rollouts (they resume, durable, at the next start)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()

    # ----- the state machine (called with the function service's lock held) -----------------
    def _route(self, rollout: Rollout, primary: str, weights: dict[str, float]) -> None:
        """Sets the alias, unless someone else changed it since the rollout last did."""
        change = AliasChange(primary, weights=weights, revision_id=rollout.alias_revision or None)
        try:
            alias = self.releases.update_alias_locked(
                FunctionRef(rollout.function_name), rollout.alias, change
            )
        except PreconditionFailedException:
            raise PreconditionFailedException(
                "the alias was changed outside the rollout; it is left as it is"
            ) from None
        rollout.alias_revision = alias.revision_id

    def _enter_step(self, rollout: Rollout, step: int) -> None:
        rollout.step, rollout.step_started, rollout.reason = step, self.clock(), ""
        percent = rollout.steps[step]
        rollout.history.append({"weight": percent, "invocations": 0, "errors": 0,
                                "started": rollout.step_started})  # fmt: skip
        if percent >= 100:
            self._route(rollout, rollout.to_version, {})
            self._finish(rollout, COMPLETED, _measured(rollout))
            return
        self._route(rollout, rollout.from_version, {rollout.to_version: percent / 100})
        self._save(rollout)
        self._schedule(rollout, rollout.interval_s)

    def _hold(self, rollout: Rollout) -> bool:
        """Keeps a step whose interval is over until it has seen enough of the new version."""
        need, seen = rollout.min_step_invocations, int(rollout.history[-1]["invocations"])
        if seen >= need:
            return False
        self._held.add((rollout.function_name, rollout.alias))
        rollout.reason = (
            f"step {rollout.step + 1} held until {need} invocations of version "
            f"{rollout.to_version} are seen ({seen} so far)"
        )
        self._save(rollout)
        return True

    def _finish(self, rollout: Rollout, state: str, reason: str) -> None:
        if state in (ROLLED_BACK, ABORTED):
            try:
                self._route(rollout, rollout.from_version, {})
            except LambdaError as exc:  # the alias or version is gone: nothing to restore
                reason = f"{reason}; alias not restored: {exc.message}"
        rollout.state, rollout.reason = state, reason
        self._held.discard((rollout.function_name, rollout.alias))
        timer = self._timers.pop((rollout.function_name, rollout.alias), None)
        if timer is not None:
            timer.cancel()
        self._save(rollout)
        log.info("rollout of %s:%s %s: %s", rollout.function_name, rollout.alias, state, reason)

    def _save(self, rollout: Rollout) -> None:
        if not self.catalog.exists(rollout.function_name):  # deleted, with its rollouts
            self._rollouts.pop((rollout.function_name, rollout.alias), None)
            return
        self.store.put_rollout(rollout.function_name, rollout.alias, asdict(rollout))

    def _schedule(self, rollout: Rollout, delay: float) -> None:
        key = (rollout.function_name, rollout.alias)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._spawn_advance, key)

    def _spawn_advance(self, key: tuple[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._advance(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _advance(self, key: tuple[str, str]) -> None:
        """The step's interval is over: judge it, then move on or roll back."""
        async with self.catalog.lock:
            rollout = self._rollouts.get(key)
            if rollout is None or rollout.state != IN_PROGRESS:
                return
            self._timers.pop(key, None)
            try:
                if self._too_many_errors(rollout, minimum=1):
                    self._rollback(rollout)
                elif not self._hold(rollout):
                    self._enter_step(rollout, rollout.step + 1)
            except LambdaError as exc:  # e.g. the alias was deleted meanwhile
                self._finish(rollout, ABORTED, exc.message)

    def _too_many_errors(self, rollout: Rollout, minimum: int) -> bool:
        current = rollout.history[-1]
        calls = current["invocations"]
        return calls >= minimum and current["errors"] / calls > rollout.max_error_rate

    def _rollback(self, rollout: Rollout) -> None:
        current = rollout.history[-1]
        rate = current["errors"] / current["invocations"]
        weight = rollout.steps[rollout.step]
        limit = rollout.max_error_rate
        reason = f"error rate {rate:.1%} of version {rollout.to_version} at {weight}%"
        self._finish(rollout, ROLLED_BACK, f"{reason} exceeded {limit:.1%}")

    def observe(self, event: Invoked) -> None:
        """Counts the new version's results through the alias (other callers of the version,
        e.g. a test alias, are not the rollout's traffic); enough errors roll back at once."""
        rollout = self._rollouts.get((event.name, event.qualifier or ""))
        if (self._closed or rollout is None or rollout.state != IN_PROGRESS
                or rollout.to_version != event.version):  # fmt: skip
            return
        current = rollout.history[-1]
        current["invocations"] += 1
        current["errors"] += int(event.failed)
        key = (event.name, rollout.alias)
        if key in self._held and current["invocations"] >= rollout.min_step_invocations:
            self._held.discard(key)  # seen enough: judge the step now
            self._spawn_advance(key)
        if not self._too_many_errors(rollout, rollout.min_invocations):
            return
        if not self.catalog.lock.locked():
            # Before this invoke's answer leaves: no further invoke reaches the version.
            self._rollback(rollout)
        else:  # a write is in flight: roll back as soon as it is done
            task = asyncio.get_running_loop().create_task(self._rollback_now(rollout))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function or alias takes its rollouts with it: they never touch a
        re-created one of the same name."""
        for key, rollout in list(self._rollouts.items()):
            if key[0] != function_name or qualifier not in (None, key[1]):
                continue
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
            self._held.discard(key)
            if qualifier is None:  # the store dropped the function's rollouts already
                del self._rollouts[key]
            elif rollout.state == IN_PROGRESS:
                rollout.state, rollout.reason = ABORTED, "the alias was deleted"
                self._save(rollout)

    async def _rollback_now(self, rollout: Rollout) -> None:
        async with self.catalog.lock:
            if rollout.state == IN_PROGRESS and self._too_many_errors(rollout, 1):
                self._rollback(rollout)


def _measured(rollout: Rollout) -> str:
    """What a completed rollout saw of the new version: a rollout with no traffic checked
    nothing, and says so."""
    calls = int(sum(step["invocations"] for step in rollout.history))
    errors = int(sum(step["errors"] for step in rollout.history))
    version = rollout.to_version
    if not calls:
        return (
            f"all traffic on version {version}, but no invocation of it was seen during the "
            "rollout: its error rate was never checked"
        )
    return (
        f"all traffic on version {version}; {calls} invocation{'s' if calls != 1 else ''} of "
        f"it checked, {errors} error{'s' if errors != 1 else ''} ({errors / calls:.1%})"
    )

"""Pre-built sandboxes: isolated, waiting for a function, so a cold start skips building one.

A pre-built sandbox has done everything that does not depend on the function: cgroups,
network namespace (with outbound access attached), mount/PID namespaces, root, init, uid,
seccomp. Assigning it binds the code at /var/task, sizes /tmp and the memory limit, and gives
the init the function's environment (see launcher.assign).

One reserve per key: a zygote's interpreter (its runtime forked and set up, waiting), or a
runtime that is exec'd (Node.js) for its exact command and mounts, whose program is already
running and waits for its function's environment ("early" sandboxes). Each refills in the
background; its size follows demand within a memory budget, each key's share counted at what
its sandboxes are measured to cost. Zygote keys keep a minimum; early keys exist only while
they are in demand (their processes cost tens of MB each).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from firebox.sandboxes.base import Mount, SandboxSpec
from firebox.sandboxes.cgroups import EnvironmentCgroup

log = logging.getLogger("firebox.reserve")

PREBUILT_MEMORY_MB = 128  # Lambda's minimum: an assignment only ever raises it
WINDOW_S = 10.0  # demand is the number of sandboxes taken in this window
REFILL_DELAY_S = 0.05
EARLY_IDLE_S = 300.0  # an early key not taken from for this long keeps none ready
EARLY_PREFIX = "exec:"  # the keys of early templates


@dataclass(frozen=True)
class Template:
    """What the sandboxes built ahead for one key hold, and how their runtime starts."""

    mounts: tuple[Mount, ...]
    zygote: str | None = None  # the interpreter whose zygote starts the runtime in-process
    in_process: Mapping[str, object] = field(default_factory=dict)
    argv: tuple[str, ...] = ()  # else: this program, exec'd at once, waits for its function
    # ... with these variables (those a program reads only as it starts: LD_LIBRARY_PATH)
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def early(self) -> bool:
        return bool(self.argv)

    @property
    def key(self) -> str:
        """An early template's key: everything its running program was started with."""
        mounts = ";".join(f"{m.host}>{m.inside}" for m in self.mounts)
        environ = ";".join(f"{k}={v}" for k, v in sorted(self.environ.items()))
        return EARLY_PREFIX + "\0".join(self.argv) + "|" + mounts + "|" + environ


class Prebuilt(Protocol):
    """What the reserve needs of a sandbox it builds ahead."""

    cgroup: EnvironmentCgroup

    async def start(self) -> None: ...

    async def prepare_listener(self) -> None: ...

    async def built(self) -> bool: ...

    def reap(self) -> int | None: ...

    def kill(self) -> None: ...


P = TypeVar("P", bound=Prebuilt)


class SandboxReserve(Generic[P]):
    """Keeps `target` pre-built sandboxes ready per key."""

    def __init__(
        self,
        build: Callable[[SandboxSpec], P],
        busy: Callable[[], bool],
        runtime_for: Callable[[str], Template],
        minimum: int = 2,
        budget_mb: int = 256,
        per_sandbox_mb: float = 9.0,
        clock: Callable[[], float] = time.monotonic,
        early_mb: float = 40.0,
    ) -> None:
        self._make = build  # a sandbox to build ahead, for a spec without a function
        self._busy = busy  # whether on-demand sandboxes are starting (refills wait)
        # For a zygote interpreter: the mounts and in-process start of the runtime it serves.
        self._runtime_for = runtime_for
        self._templates: dict[str, Template] = {}  # early keys: what they were taken for
        self.minimum = minimum
        self.budget_mb = budget_mb
        # What one pre-built sandbox costs: a cautious guess until the first ones are measured.
        self.per_sandbox_mb = per_sandbox_mb
        self.early_mb = early_mb  # ... and an early one (a running Node: its heap, its code)
        self._measured: dict[str, collections.deque[float]] = {}
        self._clock = clock
        self._ready: dict[str, collections.deque[P]] = {}
        self._building: dict[str, int] = {}
        self._taken: dict[str, collections.deque[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._deferred: set[str] = set()
        self._last_taken: dict[str, float] = {}
        self._closed = False

    def take(self, interpreter: str, template: Template | None = None) -> P | None:
        """A ready sandbox for this key, if there is one; asks for a replacement. An early
        key comes with its template (the first take makes the key)."""
        if template is not None:
            self._templates[interpreter] = template
        self._taken.setdefault(interpreter, collections.deque()).append(self._clock())
        self._last_taken[interpreter] = self._clock()
        ready = self._ready.get(interpreter)
        sandbox = None
        while ready and sandbox is None:
            candidate = ready.popleft()
            if candidate.reap() is None:
                sandbox = candidate
                self._measure(interpreter, sandbox)  # settled: it has waited since built
            else:
                candidate.kill()  # died while waiting (e.g. the zygote restarted)
        # Refill a moment later: building now would take CPU from the cold start in progress.
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(REFILL_DELAY_S, self.want, interpreter)
        return sandbox

    @property
    def maximum(self) -> int:
        """How many zygote sandboxes the budget holds (at what they are measured to cost)."""
        return max(self.minimum, int(self.budget_mb // self.per_sandbox_mb))

    def cost(self, key: str) -> float:
        """What one waiting sandbox of a key costs (MB): measured, else a cautious guess."""
        measured = self._measured.get(key)
        if measured:
            return max(1.0, sum(measured) / len(measured))
        return self.early_mb if key.startswith(EARLY_PREFIX) else self.per_sandbox_mb

    def _measure(self, key: str, sandbox: P) -> None:
        """Learns what a waiting sandbox costs: the memory charged to its cgroup.

        Pages it shares with its zygote are not charged to it: they cost nothing more.
        """
        used = sandbox.cgroup.memory_bytes() / (1024 * 1024)
        if used > 0:
            self._measured.setdefault(key, collections.deque(maxlen=16)).append(used)
            if not key.startswith(EARLY_PREFIX):
                self.per_sandbox_mb = self.cost(key)

    def spent(self) -> float:
        """What the ready and building sandboxes of every key cost (MB)."""
        counts = collections.Counter({key: len(ready) for key, ready in self._ready.items()})
        counts.update(self._building)
        return sum(count * self.cost(key) for key, count in counts.items())

    def _forget(self, key: str) -> None:
        """Drops every trace of an idle early key (so it no longer shares the budget)."""
        for table in (self._ready, self._templates, self._taken, self._last_taken,
                      self._measured, self._building):  # fmt: skip
            table.pop(key, None)
        timer = self._rechecks.pop(key, None)
        if timer is not None:
            timer.cancel()

    def minimum_for(self, key: str) -> int:
        """The zygote keys' minimum; an early key's is one while it is in demand."""
        if not key.startswith(EARLY_PREFIX):
            return self.minimum
        return 1 if self._clock() - self._last_taken.get(key, -EARLY_IDLE_S) < EARLY_IDLE_S else 0

    def target(self, interpreter: str) -> int:
        """Demand in the last window, at least the minimum, within the budget's share."""
        now = self._clock()
        taken = self._taken.setdefault(interpreter, collections.deque())
        while taken and taken[0] < now - WINDOW_S:
            taken.popleft()
        minimum = self.minimum_for(interpreter)
        # The keys that share the budget: those with sandboxes (ready or building) or demand.
        keys = len({k for k, ready in self._ready.items() if ready}
                   | {k for k, n in self._building.items() if n} | {interpreter})  # fmt: skip
        share = max(minimum, int(self.budget_mb / keys // self.cost(interpreter)))
        return min(share, max(minimum, len(taken)))

    def want(self, interpreter: str) -> None:
        """Starts building until the interpreter's reserve reaches its target."""
        if self._closed:
            return
        if interpreter.startswith(EARLY_PREFIX) and interpreter not in self._templates:
            return  # an early key forgotten since (a timer's late call)
        target = self.target(interpreter)
        ready = self._ready.get(interpreter)
        while ready and len(ready) > target:  # demand fell: give the surplus back
            ready.pop().kill()
        if (
            ready
            and interpreter not in self._rechecks
            and (len(ready) > self.minimum_for(interpreter) or interpreter in self._templates)
        ):
            # Look again once the demand window has passed, so an idle reserve shrinks too
            # (an early key's to none, once it has not been taken from for EARLY_IDLE_S).
            with contextlib.suppress(RuntimeError):
                self._rechecks[interpreter] = asyncio.get_running_loop().call_later(
                    WINDOW_S, self._recheck, interpreter
                )
        # One build at a time per interpreter, and none while on-demand sandboxes are starting:
        # a reserve that refills in parallel competes for the CPU with the very cold starts
        # (and bursts) it is there to speed up.
        if self._building.get(interpreter, 0):
            return
        if self._busy() and len(self._ready.get(interpreter, ())) < target:
            self._later(interpreter)
            return
        if len(self._ready.get(interpreter, ())) >= target:
            if target == 0 and interpreter in self._templates:
                self._forget(interpreter)  # an early key nobody wants any more
            return
        if interpreter in self._templates and (
            self.spent() + self.cost(interpreter) > self.budget_mb
        ):
            return  # early sandboxes only within the budget, all keys counted
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._building[interpreter] = 1
        task = loop.create_task(self._build(interpreter))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, interpreter: str) -> None:
        """Looks again after REFILL_DELAY_S (once: a burst asks on every take)."""
        if interpreter in self._deferred:
            return
        self._deferred.add(interpreter)

        def again() -> None:
            self._deferred.discard(interpreter)
            self.want(interpreter)

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(REFILL_DELAY_S, again)

    async def _build(self, interpreter: str) -> None:
        template = self._templates.get(interpreter) or self._runtime_for(interpreter)
        spec = SandboxSpec(
            env_id=f"pre-{time.monotonic_ns():x}",
            argv=list(template.argv),
            environ=dict(template.environ),
            code_dir=Path("/"),  # none yet: bound at assignment
            memory_mb=PREBUILT_MEMORY_MB,
            ephemeral_storage_mb=512,
            mounts=template.mounts,
            zygote=template.zygote,
            in_process=template.in_process,
            label="reserve",
            early=template.early,
        )
        sandbox = self._make(spec)
        try:
            await sandbox.start()
            await sandbox.prepare_listener()
            # Only a complete sandbox is ready: its listener comes before its root is built.
            if not await sandbox.built():
                raise OSError("it ended while it was being built")
        except Exception as exc:  # a failed build only shrinks the reserve
            log.warning("could not pre-build a sandbox for %s: %s", interpreter, exc)
            sandbox.kill()
            return
        except BaseException:  # cancelled (the reserve is closing): leave nothing behind
            sandbox.kill()
            raise
        finally:
            self._building[interpreter] -= 1
        if self._closed or sandbox.reap() is not None:
            sandbox.kill()
            return
        self._ready.setdefault(interpreter, collections.deque()).append(sandbox)
        self.want(interpreter)  # the next one, if the target is not reached yet

    def _recheck(self, interpreter: str) -> None:
        self._rechecks.pop(interpreter, None)
        self.want(interpreter)

    def size(self, interpreter: str | None = None) -> int:
        """Live ready sandboxes for one interpreter, or for all."""
        queues = self._ready.values() if interpreter is None else [self._ready.get(interpreter, ())]
        return sum(1 for ready in queues for sandbox in ready if sandbox.reap() is None)

    def close(self) -> None:
        self._closed = True
        for timer in self._rechecks.values():
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        for ready in self._ready.values():
            for sandbox in ready:
                sandbox.kill()
        self._ready.clear()

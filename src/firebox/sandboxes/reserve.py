"""Pre-built sandboxes: isolated, waiting for a function, so a cold start skips building one.

A pre-built sandbox has done everything that does not depend on the function: cgroups,
network namespace (with outbound access attached), mount/PID namespaces, root, init, uid,
seccomp. Assigning it binds the code at /var/task, sizes /tmp and the memory limit, and gives
the init the function's environment (see launcher.assign). One reserve per interpreter; it
refills in the background and its size follows demand within a memory budget.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from firebox.sandboxes.base import Mount, SandboxSpec
from firebox.sandboxes.cgroups import EnvironmentCgroup

log = logging.getLogger("firebox.reserve")

PREBUILT_MEMORY_MB = 128  # Lambda's minimum: an assignment only ever raises it
WINDOW_S = 10.0  # demand is the number of sandboxes taken in this window
REFILL_DELAY_S = 0.05


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
    """Keeps `target` pre-built sandboxes ready per interpreter."""

    def __init__(
        self,
        build: Callable[[SandboxSpec], P],
        busy: Callable[[], bool],
        runtime_for: Callable[[str], tuple[tuple[Mount, ...], Mapping[str, object]]],
        minimum: int = 2,
        budget_mb: int = 256,
        per_sandbox_mb: float = 9.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = build  # a sandbox to build ahead, for a spec without a function
        self._busy = busy  # whether on-demand sandboxes are starting (refills wait)
        # For a zygote interpreter: the mounts and in-process start of the runtime it serves.
        self._runtime_for = runtime_for
        self.minimum = minimum
        self.budget_mb = budget_mb
        # What one pre-built sandbox costs: a cautious guess until the first ones are measured.
        self.per_sandbox_mb = per_sandbox_mb
        self._measured: collections.deque[float] = collections.deque(maxlen=16)
        self._clock = clock
        self._ready: dict[str, collections.deque[P]] = {}
        self._building: dict[str, int] = {}
        self._taken: dict[str, collections.deque[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._deferred: set[str] = set()
        self._closed = False

    def take(self, interpreter: str) -> P | None:
        """A ready sandbox for this interpreter, if there is one; asks for a replacement."""
        self._taken.setdefault(interpreter, collections.deque()).append(self._clock())
        ready = self._ready.get(interpreter)
        sandbox = None
        while ready and sandbox is None:
            candidate = ready.popleft()
            if candidate.reap() is None:
                sandbox = candidate
                self._measure(sandbox)  # settled: it has waited since it was built
            else:
                candidate.kill()  # died while waiting (e.g. the zygote restarted)
        # Refill a moment later: building now would take CPU from the cold start in progress.
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(REFILL_DELAY_S, self.want, interpreter)
        return sandbox

    @property
    def maximum(self) -> int:
        """How many pre-built sandboxes the budget holds, across all interpreters."""
        return max(self.minimum, int(self.budget_mb // self.per_sandbox_mb))

    def _measure(self, sandbox: P) -> None:
        """Learns what a waiting sandbox costs: the memory charged to its cgroup.

        Pages it shares with its zygote are not charged to it: they cost nothing more.
        """
        used = sandbox.cgroup.memory_bytes() / (1024 * 1024)
        if used > 0:
            self._measured.append(used)
            self.per_sandbox_mb = max(1.0, sum(self._measured) / len(self._measured))

    def target(self, interpreter: str) -> int:
        """Demand in the last window, at least the minimum, within the budget's share."""
        now = self._clock()
        taken = self._taken.setdefault(interpreter, collections.deque())
        while taken and taken[0] < now - WINDOW_S:
            taken.popleft()
        share = max(self.minimum, self.maximum // max(1, len(self._ready) or 1))
        return min(share, max(self.minimum, len(taken)))

    def want(self, interpreter: str) -> None:
        """Starts building until the interpreter's reserve reaches its target."""
        if self._closed:
            return
        target = self.target(interpreter)
        ready = self._ready.get(interpreter)
        while ready and len(ready) > target:  # demand fell: give the surplus back
            ready.pop().kill()
        if ready and len(ready) > self.minimum and interpreter not in self._rechecks:
            # Look again once the demand window has passed, so an idle reserve shrinks too.
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
            return
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
        mounts, in_process = self._runtime_for(interpreter)
        spec = SandboxSpec(
            env_id=f"pre-{time.monotonic_ns():x}",
            argv=[],
            environ={},
            code_dir=Path("/"),  # none yet: bound at assignment
            memory_mb=PREBUILT_MEMORY_MB,
            ephemeral_storage_mb=512,
            mounts=mounts,
            zygote=interpreter,
            in_process=in_process,
            label="reserve",
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

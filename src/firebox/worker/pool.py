"""Assignment of invocations to environments: warm reuse, scale-out, keep-alive, retirement."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firebox.domain.records import FunctionRecord
from firebox.runtimes.registry import Runtime
from firebox.worker.admission import Admission
from firebox.worker.environment import Environment, EnvironmentContext, EnvState
from firebox.worker.keepalive import FixedKeepAlive, KeepAlivePolicy

# Environments get credentials for hours (auth/sessions.py) and are replaced once fewer than
# RENEW_S of them remain: no invocation starts with credentials about to end.
RENEW_S = 3600.0


@dataclass(frozen=True)
class EnvironmentInfo:
    """A read-only view of one environment, for the admin API and the CLI."""

    id: str
    function_name: str
    version: str
    state: str
    invocations: int
    log_stream: str
    pid: int | None  # host pid of the sandbox's top process
    provisioned: bool


class EnvironmentPool:
    """All environments of a server. At most one invocation runs in an environment at a time."""

    def __init__(
        self,
        ctx: EnvironmentContext,
        admission: Admission,
        keep_alive_s: float,
        policy: KeepAlivePolicy | None = None,
    ) -> None:
        self.ctx = ctx
        self.admission = admission  # no invocation runs without a lease from it
        self.keep_alive_s = keep_alive_s
        self.policy = policy or FixedKeepAlive(keep_alive_s)
        self._prewarms: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._all: dict[str, Environment] = {}
        self._idle: dict[tuple[str, str], list[Environment]] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        # Called after an environment has died, e.g. to delete code no environment uses.
        self.on_environment_dead: list[Callable[[Environment], None]] = []
        self.clock: Callable[[], float] = time.time  # wall clock, as credentials' expiry is
        self._renewals: dict[str, asyncio.TimerHandle] = {}

    async def acquire(
        self, record: FunctionRecord, runtime: Runtime, code_dir: Path
    ) -> Environment:
        """Returns a warm idle environment of this generation, or starts a new one."""
        lease = self.admission.take(record.name)
        self.policy.invoked(_key(record), asyncio.get_running_loop().time())
        try:
            stack = self._idle.get(record.generation)
            while stack:
                env = stack.pop()  # the most recently used one: its caches are warmest
                self._cancel_expiry(env)
                if env.state is EnvState.IDLE and env.credentials_expire - self.clock() < RENEW_S:
                    # Its role's credentials end soon, and an environment's cannot change: it
                    # makes way for a fresh one, as Lambda recycles its environments.
                    env.destroy()
                elif env.state is EnvState.IDLE:
                    env.lease = lease
                    return env
            env = Environment(uuid.uuid4().hex, record, runtime, code_dir, self.ctx, self._on_dead)
            env.lease = lease
            self._all[env.id] = env
            try:
                await env.start()
            except BaseException:
                env.destroy()
                raise
            self._watch_credentials(env)
            return env
        except BaseException:
            self.admission.give(lease)
            raise

    @property
    def busy(self) -> int:
        """Invocations running (or starting) in this pool's environments."""
        return self.admission.in_use

    def release(self, env: Environment) -> None:
        """Takes an environment back after its invocation: keep it warm or discard it."""
        if env.lease is not None:
            self.admission.give(env.lease)
            env.lease = None
        if env.state is not EnvState.IDLE:
            env.destroy()
            return
        if env.retired:
            env.spin_down()
            return
        if env.provisioned:  # provisioned environments stay until their config goes
            self._idle.setdefault(env.record.generation, []).append(env)
            return
        loop = asyncio.get_running_loop()
        plan = self.policy.finished(_key(env.record), loop.time())
        if plan.prewarm_after_s > 0 and not self._idle.get(env.record.generation):
            # The next invocation is not expected for a while: free the memory now and have
            # a fresh environment initialised just before it is.
            env.spin_down()
            self._schedule_prewarm(env, plan.prewarm_after_s, plan.keep_alive_s)
            return
        self._idle.setdefault(env.record.generation, []).append(env)
        self._expiry[env.id] = loop.call_later(plan.keep_alive_s, env.spin_down)

    def _schedule_prewarm(self, env: Environment, after_s: float, keep_s: float) -> None:
        generation = env.record.generation
        old = self._prewarms.pop(generation, None)
        if old is not None:
            old.cancel()
        args = (env.record, env.runtime, env.code_dir, keep_s)
        self._prewarms[generation] = asyncio.get_running_loop().call_later(
            after_s, lambda: self._start_prewarm(*args)
        )

    def _start_prewarm(
        self, record: FunctionRecord, runtime: Runtime, code_dir: Path, keep_s: float
    ) -> None:
        self._prewarms.pop(record.generation, None)
        task = asyncio.get_running_loop().create_task(
            self._prewarm(record, runtime, code_dir, keep_s)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _prewarm(
        self, record: FunctionRecord, runtime: Runtime, code_dir: Path, keep_s: float
    ) -> None:
        """Initialises an environment ahead of an expected invocation (a pre-warm)."""
        env = Environment(uuid.uuid4().hex, record, runtime, code_dir, self.ctx, self._on_dead)
        self._all[env.id] = env
        await env.start()
        self._watch_credentials(env)
        await env.ready.wait()
        if env.state is EnvState.IDLE and not env.retired:
            self._idle.setdefault(record.generation, []).append(env)
            self._expiry[env.id] = asyncio.get_running_loop().call_later(keep_s, env.spin_down)
        else:  # retired while it started (deleted or updated function): nobody will use it
            env.destroy()

    async def provision(
        self, record: FunctionRecord, runtime: Runtime, code_dir: Path
    ) -> Environment:
        """Starts an environment ahead of traffic; initialised, it waits in the idle stack."""
        env = Environment(uuid.uuid4().hex, record, runtime, code_dir, self.ctx, self._on_dead,
                          provisioned=True)  # fmt: skip
        self._all[env.id] = env
        try:
            await env.start()
            self._watch_credentials(env)
            await env.ready.wait()  # init done, or the environment died trying
        except BaseException:
            env.destroy()
            raise
        if env.state is EnvState.IDLE and not env.retired:
            self._idle.setdefault(record.generation, []).append(env)
        return env

    def retire(
        self, function_name: str, version: str | None = None, keep: tuple[str, str] | None = None
    ) -> None:
        """Stops a function's (or one version's) idle environments, but those of generation
        `keep`; busy ones are discarded when they finish."""
        for env in list(self._all.values()):
            if (env.record.name == function_name and version in (None, env.record.version)
                    and env.record.generation != keep):  # fmt: skip
                env.retired = True
                if env.state is EnvState.IDLE:
                    env.spin_down()
        # Planned pre-warms of the function are dropped too (of every version: the key does not
        # say which; the next invocation plans again).
        for generation in [g for g in self._prewarms if g[0] == function_name and g != keep]:
            self._prewarms.pop(generation).cancel()

    def environments(self) -> list[EnvironmentInfo]:
        return [
            EnvironmentInfo(
                e.id,
                e.record.name,
                e.version,
                e.state.value,
                e.invocations,
                e.log_stream,
                e.pid,
                e.provisioned,
            )
            for e in self._all.values()
        ]

    def end_all(self, cause: str) -> int:
        """Destroys every environment now; the invocations still running in them fail as
        when an environment dies, saying `cause`. Returns how many invocations that was."""
        running = [env for env in self._all.values() if env.current is not None]
        for env in list(self._all.values()):
            env.destroy(cause)
        return len(running)

    def close(self) -> None:
        for timer in [*self._prewarms.values(), *self._renewals.values()]:
            timer.cancel()
        for task in self._background:
            task.cancel()
        for env in list(self._all.values()):
            env.destroy()

    def _watch_credentials(self, env: Environment) -> None:
        """Replaces the environment before its credentials end, even if no invoke comes (a
        provisioned one is started again by its config; a busy one goes when it is done)."""
        if env.state is EnvState.DEAD or not env.credentials_expire:
            return
        delay = max(0.0, env.credentials_expire - RENEW_S - self.clock())

        def renew() -> None:
            self._renewals.pop(env.id, None)
            env.retired = True
            if env.state is EnvState.IDLE:
                env.spin_down()

        self._renewals[env.id] = asyncio.get_running_loop().call_later(delay, renew)

    def _cancel_expiry(self, env: Environment) -> None:
        timer = self._expiry.pop(env.id, None)
        if timer is not None:
            timer.cancel()

    def _on_dead(self, env: Environment) -> None:
        self._all.pop(env.id, None)
        self._cancel_expiry(env)
        renewal = self._renewals.pop(env.id, None)
        if renewal is not None:
            renewal.cancel()
        stack = self._idle.get(env.record.generation)
        if stack and env in stack:
            stack.remove(env)
        if not stack:
            self._idle.pop(env.record.generation, None)
        for listener in self.on_environment_dead:
            listener(env)

    def code_in_use(self, code_dir: Path) -> bool:
        """Tells whether any live environment runs code from this directory."""
        return any(code_dir in (env.code_dir, env.opt_dir) for env in self._all.values())


def _key(record: FunctionRecord) -> str:
    """What a keep-alive policy learns about: one version of one function."""
    return f"{record.name}:{record.version}"

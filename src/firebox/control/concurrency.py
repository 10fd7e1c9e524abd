"""Concurrency per function: reservations, and provisioned environments kept at their count."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from firebox.control.catalog import Catalog
from firebox.control.events import FunctionDeployed
from firebox.control.functions import FunctionService
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    ConstraintError,
    InvalidParameterValueException,
    LambdaError,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceConflictException,
)
from firebox.domain.records import LATEST
from firebox.worker.environment import Environment, EnvState
from firebox.worker.pool import EnvironmentPool

log = logging.getLogger("firebox.control.concurrency")


@dataclass
class Provisioned:
    """One qualifier's provisioned concurrency and the environments that make it up."""

    function_name: str
    qualifier: str
    requested: int
    modified: float
    environments: set[Environment] = field(default_factory=set)
    starting: int = 0
    failure: str = ""


class Concurrency:
    """Put/Get/DeleteFunctionConcurrency, the provisioned concurrency configs, and keeping the
    pool's reservations and provisioned environments true to them."""

    def __init__(self, catalog: Catalog, functions: FunctionService, pool: EnvironmentPool) -> None:
        self.catalog = catalog
        self.functions = functions
        self.store = catalog.store
        self.pool = pool
        self.admission = pool.admission
        self._configs: dict[tuple[str, str], Provisioned] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self) -> None:
        for name, qualifier, requested, modified in self.store.provisioned():
            config = Provisioned(name, qualifier, requested, modified)
            self._configs[(name, qualifier)] = config
            self._fill(config)

    # ----- reserved concurrency ---------------------------------------------------------------
    async def set_reserved(self, ref: FunctionRef, reserved: int | None) -> None:
        """Sets or removes a function's reserved concurrency (kept on $LATEST, but not its
        configuration: RevisionId stays)."""
        if reserved is not None and reserved < 0:
            raise ConstraintError(reserved, "reservedConcurrentExecutions",
                                  "Member must have value greater than or equal to 0")  # fmt: skip
        async with self.catalog.lock:
            record = self.catalog.latest(ref)
            if reserved is not None and reserved < self.total(ref.name):
                raise InvalidParameterValueException(
                    "Specified ReservedConcurrentExecutions for function is less than the "
                    f"function's provisioned concurrency ({self.total(ref.name)})."
                )
            if reserved is not None:
                reservations = self.admission.reservations
                others = sum(n for name, n in reservations.items() if name != ref.name)
                limit = self.admission.concurrency_limit
                minimum = min(100, limit // 10)
                if limit - others - reserved < minimum:
                    raise InvalidParameterValueException(
                        "Specified ReservedConcurrentExecutions for function decreases "
                        "account's UnreservedConcurrentExecution below its minimum value of "
                        f"[{minimum}]."
                    )
            self.functions.replace_locked(record, record.updated(reserved_concurrency=reserved))

    def deployed(self, event: FunctionDeployed) -> None:
        """The pool admits by the reservation $LATEST carries."""
        record = event.record
        if record.published:
            return
        if record.reserved_concurrency is None:
            self.admission.reservations.pop(record.name, None)
        else:
            self.admission.reservations[record.name] = record.reserved_concurrency

    # ----- provisioned concurrency ------------------------------------------------------------
    def _key(self, ref: FunctionRef) -> tuple[str, str]:
        if ref.qualifier is None or ref.qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        self.catalog.deployed(ref)  # the version or alias exists
        return ref.name, ref.qualifier

    async def put(self, ref: FunctionRef, requested: int) -> Provisioned:
        if requested < 1:
            raise ConstraintError(requested, "provisionedConcurrentExecutions",
                                  "Member must have value greater than or equal to 1")  # fmt: skip
        async with self.catalog.lock:
            key = self._key(ref)
            self._check_capacity(key, requested)
            self.store.put_provisioned(*key, requested)
            config = self._configs.get(key)
            if config is None:
                config = self._configs[key] = Provisioned(*key, requested, time.time())
            config.requested, config.modified, config.failure = requested, time.time(), ""
            self._trim(config)
            self._fill(config)
            return config

    def utilization(self, function_name: str, qualifier: str) -> tuple[int, int]:
        """A qualifier's provisioned concurrency: (configured, environments busy now)."""
        config = self._configs.get((function_name, qualifier))
        if config is None:
            return 0, 0
        busy = sum(1 for env in config.environments if env.state is EnvState.BUSY)
        return config.requested, busy

    def configured(self) -> list[tuple[str, str, int]]:
        """(function, qualifier, environments asked for) of every provisioned config."""
        return [(name, qualifier, c.requested) for (name, qualifier), c in self._configs.items()]

    def total(self, function_name: str, skip: tuple[str, str] | None = None) -> int:
        """Provisioned environments a function asked for, over all its qualifiers."""
        return sum(c.requested for k, c in self._configs.items()
                   if k[0] == function_name and k != skip)  # fmt: skip

    def _check_capacity(self, key: tuple[str, str], requested: int) -> None:
        """As on AWS: within the function's reservation, or within what is unreserved, and
        never on both an alias and the version it points to."""
        name, qualifier = key
        version = self.catalog.deployed(FunctionRef(name, qualifier)).record.version
        for (other_name, other), _config in self._configs.items():
            if other_name != name or other == qualifier:
                continue
            other_version = self.catalog.deployed(FunctionRef(name, other)).record.version
            if other_version == version:
                raise ResourceConflictException(
                    f"Alias or version {other} already has provisioned concurrency for "
                    f"version {version}."
                )
        wanted = self.total(name, skip=key) + requested
        reserved = self.catalog.latest(FunctionRef(name)).reserved_concurrency
        if reserved is not None:
            if wanted > reserved:
                raise InvalidParameterValueException(
                    "Requested Provisioned Concurrency should not be greater than the "
                    f"reservedConcurrentExecution for function {name}"
                )
            return
        admission = self.admission
        unreserved = [n for (n, _) in self._configs if n not in admission.reservations]
        others = sum(self.total(n) for n in set(unreserved) if n != name)
        if others + wanted > admission.unreserved_limit:
            raise InvalidParameterValueException(
                f"Requested Provisioned Concurrency exceeds the account's unreserved "
                f"concurrency ({admission.unreserved_limit} minus {others} provisioned elsewhere)."
            )

    def get(self, ref: FunctionRef) -> Provisioned:
        key = self._key(ref)
        config = self._configs.get(key)
        if config is None:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function"
            )
        return config

    def list(self, ref: FunctionRef) -> list[Provisioned]:
        self.catalog.latest(FunctionRef(ref.name))
        return sorted((c for (n, _), c in self._configs.items() if n == ref.name),
                      key=lambda c: c.qualifier)  # fmt: skip

    async def delete(self, ref: FunctionRef) -> None:
        async with self.catalog.lock:
            key = self._key(ref)
            self.store.delete_provisioned(*key)
            config = self._configs.pop(key, None)
            if config is not None:
                config.requested = 0
                self._trim(config)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    # ----- keeping the count ----------------------------------------------------------------
    def _trim(self, config: Provisioned) -> None:
        """Retires environments above the requested count (idle ones at once)."""
        surplus = sorted(config.environments, key=lambda e: e.state is EnvState.IDLE)
        while len(config.environments) > config.requested and surplus:
            env = surplus.pop()  # idle ones first
            config.environments.discard(env)
            env.retired = True
            if env.state is EnvState.IDLE:
                env.spin_down()

    def _fill(self, config: Provisioned) -> None:
        for _ in range(config.requested - len(config.environments) - config.starting):
            config.starting += 1
            task = asyncio.get_running_loop().create_task(self._start_one(config))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_one(self, config: Provisioned) -> None:
        try:
            ref = FunctionRef(config.function_name, config.qualifier)
            deployed = self.catalog.deployed(ref)  # an alias: its primary version
            if deployed.runtime is None:
                config.failure = f"The runtime {deployed.record.runtime} is not available"
                return
            env = await self.pool.provision(deployed.record, deployed.runtime, deployed.code_dir)
        except LambdaError as exc:
            config.failure = exc.message
            return
        except Exception as exc:  # e.g. the sandbox could not be built: say why, not IN_PROGRESS
            log.exception("provisioned environment of %s failed to start", config.function_name)
            config.failure = f"FUNCTION_ERROR_INIT_FAILURE: {exc}"
            return
        finally:
            config.starting -= 1
        if env.state is EnvState.DEAD:
            config.failure = "FUNCTION_ERROR_INIT_FAILURE: the function's init failed"
            return
        if self._configs.get((config.function_name, config.qualifier)) is not config:
            env.retired = True  # the config went while this environment was starting
            env.destroy()
            return
        config.environments.add(env)
        self._trim(config)

    def environment_gone(self, env: object) -> None:
        """A provisioned environment died (crash, kill, timeout): start its replacement."""
        if not isinstance(env, Environment) or not env.provisioned:
            return
        for config in self._configs.values():
            if env in config.environments:
                config.environments.discard(env)
                if not env.retired and not config.failure:
                    self._fill(config)

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """What was provisioned for a deleted function (qualifier None), version or alias goes
        with it (a deleted function's rows went with it in the store)."""
        if qualifier is None:
            self.admission.reservations.pop(function_name, None)
        for key in [k for k in self._configs if k[0] == function_name]:
            if qualifier in (None, key[1]):
                config = self._configs.pop(key)
                config.requested = 0
                self._trim(config)
                if qualifier is not None:
                    self.store.delete_provisioned(*key)

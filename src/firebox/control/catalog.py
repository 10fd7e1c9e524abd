"""The catalog: every function's $LATEST, versions and aliases, as invokes and services read them.

A read model in memory, filled from the store at start and kept current by the writers (which
hold its lock): no invoke touches the database. It also resolves references: a qualifier to
what it runs, an alias by its weights.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from firebox.control.events import (
    AliasDeleted,
    EventBus,
    FunctionDeleted,
    FunctionDeployed,
    VersionDeleted,
)
from firebox.domain.arns import ArnBuilder, FunctionRef, check_unqualified_or_latest
from firebox.domain.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST, AliasRecord, FunctionRecord
from firebox.runtimes.registry import Runtime, RuntimeRegistry
from firebox.storage.base import Change, FunctionStore
from firebox.worker.codestore import CodeStore

log = logging.getLogger("firebox.control.catalog")


@dataclass(frozen=True)
class Deployed:
    """A function ready to invoke: its record, its runtime, and its unpacked code."""

    record: FunctionRecord
    runtime: Runtime | None  # None when the host no longer has the runtime
    code_dir: Path


def check_revision(current: str, expected: object) -> None:
    """Refuses a change made against another revision than the current one."""
    if expected is not None and expected != current:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


class Catalog:
    """Functions, versions and aliases in memory; writers change it under `lock`."""

    def __init__(
        self,
        store: FunctionStore,
        code: CodeStore,
        runtimes: RuntimeRegistry,
        arns: ArnBuilder,
        bus: EventBus,
    ) -> None:
        self.store = store
        self.code = code
        self.runtimes = runtimes
        self.arns = arns
        self.bus = bus
        self.lock = asyncio.Lock()  # serialises writes, so revision checks cannot race
        self._latest: dict[str, Deployed] = {}
        self._versions: dict[tuple[str, str], Deployed] = {}  # (name, number): immutable
        self._aliases: dict[str, dict[str, AliasRecord]] = {}
        self._random = random.Random()  # weighted alias routing

    def load(self) -> None:
        """Reads every stored function, version and alias."""
        after: str | None = None
        while page := self.store.list(after, 1000):
            for record in page:
                self.put(record)
                version = 0
                while versions := self.store.list_versions(record.name, version, 1000):
                    for published in versions:
                        self.put(published)
                    version = int(versions[-1].version)
                for alias in self.store.list_aliases(record.name):
                    self.put_alias(alias)
            after = page[-1].name

    # ----- changes (their writers hold the lock) ----------------------------------------------
    def put(self, record: FunctionRecord) -> Deployed:
        """Takes in $LATEST or a version as stored, and tells the subscribers."""
        try:
            runtime: Runtime | None = self.runtimes.resolve(record.runtime)
        except InvalidParameterValueException:
            log.warning("function %s: runtime %s is not available here", record.name,
                        record.runtime)  # fmt: skip
            runtime = None
        deployed = Deployed(record, runtime, self.code.unpacked(record.code_sha256))
        if len(record.layers) > 1:  # built by its writer; here at start, or after a crash
            self.code.merge([use.code_sha256 for use in record.layers])
        if record.published:
            self._versions[(record.name, record.version)] = deployed
        else:
            self._latest[record.name] = deployed
        self.bus.publish(FunctionDeployed(record, runtime, deployed.code_dir))
        return deployed

    def put_alias(self, alias: AliasRecord) -> None:
        self._aliases.setdefault(alias.function_name, {})[alias.name] = alias

    def drop_alias(self, name: str, alias: str) -> None:
        self._aliases.get(name, {}).pop(alias, None)

    def drop_version(self, name: str, version: str) -> FunctionRecord:
        return self._versions.pop((name, version)).record

    def drop_function(self, name: str) -> list[FunctionRecord]:
        """Forgets a function; returns its $LATEST and versions."""
        gone = [self._latest.pop(name).record]
        self._aliases.pop(name, None)
        for key in [k for k in self._versions if k[0] == name]:
            gone.append(self._versions.pop(key).record)
        return gone

    def refresh(self, changes: list[Change]) -> None:
        """Catches up with writes made elsewhere (another process; this one's are no-ops): each
        function a change names is compared with the store, $LATEST, versions and aliases, and
        made to match, telling the subscribers what went or came."""
        for name in dict.fromkeys(change.name for change in changes):
            self._reconcile(name)

    def _reconcile(self, name: str) -> None:
        stored = self.store.get(name)
        if stored is None:
            if name in self._latest:
                self.drop_function(name)
                self.bus.publish(FunctionDeleted(name))
            return
        if self.latest_or_none(name) != stored:
            self.put(stored)
        versions: dict[str, FunctionRecord] = {}
        after = 0
        while page := self.store.list_versions(name, after, 1000):
            versions.update((record.version, record) for record in page)
            after = int(page[-1].version)
        for number in [v for (n, v) in self._versions if n == name and v not in versions]:
            self.drop_version(name, number)
            self.bus.publish(VersionDeleted(name, number))
        for number, record in versions.items():
            if self.version(name, number) != record:
                self.put(record)
        aliases = {alias.name: alias for alias in self.store.list_aliases(name)}
        for alias in self.aliases(name):
            if alias.name not in aliases:
                self.drop_alias(name, alias.name)
                self.bus.publish(AliasDeleted(name, alias.name))
        for alias in aliases.values():
            if self.alias(name, alias.name) != alias:
                self.put_alias(alias)

    # ----- reads ------------------------------------------------------------------------------
    def not_found(self, ref: FunctionRef) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Function not found: {self.arns.function(ref.name, ref.qualifier)}"
        )

    def uses_layers(self, layers: tuple[str, ...]) -> bool:
        """Whether any $LATEST or version runs with exactly these layer packages, in order."""
        return any(
            tuple(use.code_sha256 for use in deployed.record.layers) == layers
            for deployed in (*self._latest.values(), *self._versions.values())
        )

    def names(self) -> list[str]:
        return sorted(self._latest)

    def exists(self, name: str) -> bool:
        return name in self._latest

    def latest(self, ref: FunctionRef) -> FunctionRecord:
        """$LATEST, for changes: only an unqualified name or $LATEST may be changed."""
        check_unqualified_or_latest(ref, self.arns)
        deployed = self._latest.get(ref.name)
        if deployed is None:
            raise self.not_found(ref)
        return deployed.record

    def latest_or_none(self, name: str) -> FunctionRecord | None:
        deployed = self._latest.get(name)
        return deployed.record if deployed else None

    def version(self, name: str, version: str) -> FunctionRecord | None:
        deployed = self._versions.get((name, version))
        return deployed.record if deployed else None

    def last_version(self, name: str) -> FunctionRecord | None:
        numbers = [int(v) for (n, v) in self._versions if n == name]
        return self._versions[(name, str(max(numbers)))].record if numbers else None

    def aliases(self, name: str) -> list[AliasRecord]:
        return sorted(self._aliases.get(name, {}).values(), key=lambda a: a.name)

    def alias(self, name: str, alias: str) -> AliasRecord | None:
        return self._aliases.get(name, {}).get(alias)

    def deployed(self, ref: FunctionRef, route: bool = False) -> Deployed:
        """What a reference runs: $LATEST, a version, or an alias's version (routed by weight
        when route is set, else its primary)."""
        if ref.name not in self._latest:
            raise self.not_found(ref)
        qualifier = ref.qualifier
        if qualifier is None or qualifier == LATEST:
            return self._latest[ref.name]
        if not qualifier.isdigit():
            alias = self.alias(ref.name, qualifier)
            if alias is None:
                raise self.not_found(ref)
            qualifier = alias.function_version
            if route:
                for version, weight in alias.weights.items():
                    if self._random.random() < weight:
                        qualifier = version
            if qualifier == LATEST:
                return self._latest[ref.name]
        deployed = self._versions.get((ref.name, qualifier))
        if deployed is None:
            raise self.not_found(ref)
        return deployed

    def get(self, ref: FunctionRef) -> FunctionRecord:
        return self.deployed(ref).record

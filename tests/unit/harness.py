"""The unit tests' harness: the control plane assembled in-process with fakes (a memory store,
no sandboxes, a fake invoker); nothing needs root or the network."""

from __future__ import annotations

import asyncio
import io
import sys
import zipfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from firebox.control.catalog import Catalog
from firebox.control.concurrency import Concurrency
from firebox.control.event_configs import EventConfigs
from firebox.control.events import (
    AliasDeleted,
    EventBus,
    FunctionDeleted,
    FunctionDeployed,
    Invoked,
    VersionDeleted,
    on_deletions,
)
from firebox.control.function_urls import FunctionUrls
from firebox.control.functions import FunctionService
from firebox.control.http_routes import HttpRoutes
from firebox.control.releases import Releases
from firebox.control.rollouts import RolloutManager
from firebox.domain.arns import ArnBuilder
from firebox.domain.functions import FunctionConfig, NewFunction
from firebox.domain.records import FunctionRecord
from firebox.invoke.service import InvokeService
from firebox.runtimes.registry import Runtime, RuntimeRegistry
from firebox.storage.base import FunctionStore
from firebox.storage.memory import MemoryFunctionStore
from firebox.worker.admission import Admission
from firebox.worker.codestore import CodeStore
from firebox.worker.invocation import InvocationResult

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine on a fresh event loop (the services' locks and timers need one)."""
    return asyncio.run(coro)


def zip_of(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def new_function(name: str, source: str = "def handler(e, c):\n    return e\n",
                 **config: Any) -> NewFunction:  # fmt: skip
    """A python3.11 function, as a Python caller describes one (no AWS request body)."""
    base = {"runtime": "python3.11", "role": "arn:aws:iam::000000000000:role/x",
            "handler": "app.handler", **config}  # fmt: skip
    return NewFunction(name, FunctionConfig(**base), zip_of(source))


class FakePool:
    """The worker's side as the control plane sees it: admission's leases, what retires."""

    def __init__(self, concurrency_limit: int = 100) -> None:
        self.admission = Admission(concurrency_limit)
        self.retired: list[tuple[str, str | None]] = []

    def retire(self, name: str, version: str | None = None, keep: object = None) -> None:
        self.retired.append((name, version))

    def code_in_use(self, code_dir: Path) -> bool:
        return False


@dataclass
class FakeInvoker:
    """Runs nothing: answers every invocation with what `answer` says, and remembers it."""

    answer: Callable[[FunctionRecord, bytes], tuple[bytes, str | None]] = lambda record, payload: (
        payload,
        None,
    )
    calls: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, version, payload)

    async def invoke(self, record: FunctionRecord, runtime: Runtime, code_dir: Path,
                     payload: bytes, *args: Any) -> InvocationResult:  # fmt: skip
        self.calls.append((record.name, record.version, payload))
        body, error = self.answer(record, payload)
        return InvocationResult(body, error, "req", "", record.version, "env", 1.0, None)


class ControlPlane:
    """Every control-plane service over a memory store, wired as the platform wires them."""

    def __init__(
        self,
        root: Path,
        clock: Callable[[], float] | None = None,
        store: FunctionStore | None = None,
    ) -> None:
        self.bus = EventBus()
        self.events: list[object] = []
        for kind in (FunctionDeployed, FunctionDeleted, VersionDeleted, AliasDeleted, Invoked):
            self.bus.subscribe(kind, self.events.append)
        self.store = store or MemoryFunctionStore()
        runtimes = RuntimeRegistry({"python3.11": sys.executable})
        self.arns = ArnBuilder("us-east-1", "000000000000")
        self.catalog = Catalog(self.store, CodeStore(root / "code"), runtimes, self.arns, self.bus)
        self.pool = FakePool()
        self.releases = Releases(self.catalog)
        self.functions = FunctionService(self.catalog, self.releases, self.pool.code_in_use)
        self.invoker = FakeInvoker()
        self.invokes = InvokeService(self.catalog, self.invoker, self.bus)  # type: ignore[arg-type]
        self.concurrency = Concurrency(self.catalog, self.functions, self.pool)  # type: ignore[arg-type]
        self.rollouts = RolloutManager(
            self.catalog, self.releases, **({"clock": clock} if clock else {})
        )
        self.event_configs = EventConfigs(self.catalog)
        self.urls = FunctionUrls(self.catalog, "http://{id}.lambda-url.test/")
        self.routes = HttpRoutes(self.catalog)
        pool = self.pool
        self.bus.subscribe(FunctionDeployed, lambda e: pool.retire(e.record.name, e.record.version))
        self.bus.subscribe(FunctionDeleted, lambda e: pool.retire(e.name))
        self.bus.subscribe(FunctionDeployed, self.concurrency.deployed)
        for service in (self.concurrency, self.rollouts, self.event_configs, self.urls,
                        self.routes):  # fmt: skip
            on_deletions(self.bus, service.forget)
        self.bus.subscribe(Invoked, self.rollouts.observe)

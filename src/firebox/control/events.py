"""What happens to functions, as typed events, and the bus that delivers them.

Each fact has one owner that publishes it (the catalog, the function service, releases, the
invoke path); whatever depends on it subscribes once, at composition (platform.py), so what
depends on a function is cleaned up in one place when it goes. Handlers run synchronously,
in the order they subscribed, inside the publisher's write (under the catalog's lock): by
the time the request that caused an event is answered, every subscriber has seen it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from firebox.domain.records import FunctionRecord
from firebox.runtimes.registry import Runtime


@dataclass(frozen=True)
class FunctionDeployed:
    """$LATEST or a version entered the catalog: created, changed, published, or loaded."""

    record: FunctionRecord
    runtime: Runtime | None  # None when this host lacks the function's runtime
    code_dir: Path


@dataclass(frozen=True)
class FunctionDeleted:
    """A function went, with all its versions and aliases."""

    name: str


@dataclass(frozen=True)
class VersionDeleted:
    name: str
    version: str


@dataclass(frozen=True)
class AliasDeleted:
    name: str
    alias: str


@dataclass(frozen=True)
class Invoked:
    """An invoke finished: which version ran for the qualifier asked for, and how it went."""

    name: str
    qualifier: str | None
    version: str
    failed: bool


E = TypeVar("E")


class EventBus:
    """Delivers each published event to the handlers subscribed to its type."""

    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            handler(event)


def on_deletions(bus: EventBus, forget: Callable[[str, str | None], None]) -> None:
    """Subscribes `forget(function, qualifier)` to every deletion: qualifier None for a whole
    function, else the version or alias that went."""
    bus.subscribe(FunctionDeleted, lambda event: forget(event.name, None))
    bus.subscribe(VersionDeleted, lambda event: forget(event.name, event.version))
    bus.subscribe(AliasDeleted, lambda event: forget(event.name, event.alias))

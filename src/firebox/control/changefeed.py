"""Keeping this process's read models current with writes made by any process.

Every write to the function store leaves a row in its change feed (storage/sqlite.py: by
triggers, in the write's own transaction). This process's writers update its read models as
they write; the feed brings in everyone else's: a CLI writing the database, a second server
on the same data dir, later a control plane feeding worker hosts. It polls the store once a
second; with PostgreSQL, LISTEN/NOTIFY on the same rows would wake it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from firebox.control.catalog import Catalog
from firebox.storage.base import Change

log = logging.getLogger("firebox.control.changefeed")

BATCH = 1000


class ChangeFeed:
    """Reads the store's change feed and hands each change to the read model of its kind."""

    def __init__(
        self,
        catalog: Catalog,
        readers: dict[str, Callable[[list[Change]], None]],
        interval_s: float = 1.0,
    ) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.readers = readers  # kind → what refreshes the read model of it
        self.interval_s = interval_s
        self.seq = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follows the feed from now on (the read models were just loaded whole)."""
        self.seq = self.store.last_change()
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception:  # a bad moment (a locked database): the next poll tries again
                log.exception("reading the change feed failed")

    async def poll(self) -> int:
        """Applies every change since the last poll; returns how many there were."""
        changes = await asyncio.to_thread(self.store.changes, self.seq, BATCH)
        applied = 0
        while changes:
            if changes[0].seq > self.seq + 1:
                # Rows this reader never saw were trimmed: compare everything instead.
                log.warning("the change feed skipped from %d to %d: reloading", self.seq,
                            changes[0].seq)  # fmt: skip
                changes = [*self._everything(), *changes]
            async with self.catalog.lock:  # not in the middle of a write of this process
                by_kind: dict[str, list[Change]] = {}
                for change in changes:
                    by_kind.setdefault(change.kind, []).append(change)
                for kind, batch in by_kind.items():
                    reader = self.readers.get(kind)
                    if reader is not None:
                        reader(batch)
            applied += len(changes)
            self.seq = changes[-1].seq
            changes = await asyncio.to_thread(self.store.changes, self.seq, BATCH)
        return applied

    def _everything(self) -> list[Change]:
        """A change for every function stored or known, so each is compared afresh."""
        names = set(self.catalog.names())
        after: str | None = None
        while page := self.store.list(after, 1000):
            names.update(r.name for r in page)
            after = page[-1].name
        return [Change(self.seq, "function", name, None) for name in sorted(names)]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

"""Group commit: items submitted while a write is in flight share the next write."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatchCommit(Generic[T, R]):
    """Runs `write(batch)` in a thread; each submit returns its item's result once its batch
    is written (`write` returns one result per item, in order)."""

    def __init__(
        self, write: Callable[[list[T]], list[R]], after: Callable[[], None] = lambda: None
    ) -> None:
        self._write = write
        self._after = after  # called after each successful write
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._running = False

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await asyncio.to_thread(self._write, [item for item, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                self._after()
        finally:
            self._running = False


class GroupCommit(BatchCommit[T, None]):
    """Runs `write(batch)` in a thread; each submit returns once its batch is written."""

    def __init__(self, write: Callable[[list[T]], None], after: Callable[[], None] = lambda: None):
        def write_all(batch: list[T]) -> list[None]:
            write(batch)
            return [None] * len(batch)

        super().__init__(write_all, after)

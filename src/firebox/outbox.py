"""An outbox's forwarder: what a service stored with the change that caused it (an S3
notification, an SNS delivery) handed on in order, then removed: at least once, across
restarts. One implementation for every service that fans out durably."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar


class Stored(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=Stored)
log = logging.getLogger("firebox")


class Forwarder(Generic[T]):
    """Reads `pending()` in order, hands each item to `deliver` (True: done with it, handed
    over or dropped for good; False: try again later, keeping the order; None: taken by
    someone who removes it when done, so it is not waited for), then removes the done ones
    with `delivered(ids)`."""

    def __init__(
        self,
        pending: Callable[[], list[T]],
        delivered: Callable[[list[int]], Awaitable[None]],
        deliver: Callable[[T], Awaitable[bool | None]],
        retry_s: float = 1.0,
    ) -> None:
        self._pending = pending
        self._delivered = delivered
        self._deliver = deliver
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something new was stored: look now."""
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # what a stopped server left goes first
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                batch = await asyncio.to_thread(self._pending)  # a read may wait on a commit
                if not batch:
                    await self._wake.wait()
                    continue
                done: list[int] = []
                stuck = False
                for item in batch:
                    outcome = await self._deliver(item)
                    if outcome:
                        done.append(item.id)
                    elif outcome is False:
                        stuck = True
                        break  # keep the order: the rest waits for this one
                if done:
                    await self._delivered(done)
            except Exception:  # firebox's own failure: said, then tried again, never given up
                log.exception("an outbox forwarder failed; retrying")
                stuck = True
            if stuck:  # not sooner however much is stored meanwhile: no hot retry loop
                await asyncio.sleep(self._retry_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

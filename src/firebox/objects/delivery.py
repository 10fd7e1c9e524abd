"""Hands stored notifications to their targets (a function's Event queue, an SQS queue) and
then removes them: at-least-once, in order, across restarts. A chain of notified invokes
that keeps writing into the bucket that notifies it is stopped after MAX_LINEAGE, as
Lambda's recursive-loop detection stops one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from firebox.objects.notifications import MAX_LINEAGE
from firebox.objects.records import Notice
from firebox.objects.service import ObjectService

log = logging.getLogger("firebox.s3")
RETRY_S = 1.0


class Undeliverable(Exception):
    """A notice whose target is gone for good (a deleted function or queue): dropped."""


Send = Callable[[Notice], Awaitable[None]]


class NoticeForwarder:
    """Moves notices from the object store's outbox to their targets."""

    def __init__(self, objects: ObjectService, send: Send, retry_s: float = RETRY_S) -> None:
        self.objects = objects
        self._send = send
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        objects.on_notices = self._wake.set

    def start(self) -> None:
        self._wake.set()  # what a stopped server left in the outbox goes first
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            batch = self.objects.pending_notices()
            if not batch:
                await self._wake.wait()
                continue
            done: list[int] = []
            stuck = False
            for notice in batch:
                if await self._deliver(notice):
                    done.append(notice.id)
                else:
                    stuck = True
                    break  # keep the order: the rest waits for this one
            if done:
                await self.objects.delivered(done)
            if stuck:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._retry_s)

    async def _deliver(self, notice: Notice) -> bool:
        """True once the notice is handed over (or dropped for good); False: try later."""
        if notice.kind == "lambda" and notice.lineage >= MAX_LINEAGE:
            log.warning(
                "S3 notification to %s stopped: recursive loop detected (a function invoked by "
                "this bucket's notifications has written into it %d times in a chain). Lambda "
                "stops such loops the same way; change the function or the notification's "
                "prefix/suffix so its output does not trigger it.", notice.target, notice.lineage,
            )  # fmt: skip
            return True
        try:
            await self._send(notice)
        except Undeliverable as exc:
            log.warning("S3 notification to %s dropped: %s", notice.target, exc)
            return True
        except Exception:
            log.exception("S3 notification to %s failed; retrying", notice.target)
            return False
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

"""Hands stored S3 notifications to their targets (a function's Event queue, an SQS queue)
through the outbox forwarder. A chain of notified invokes that keeps writing into the bucket
that notifies it is stopped after MAX_LINEAGE, as Lambda's recursive-loop detection stops
one."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from firebox.objects.notifications import MAX_LINEAGE
from firebox.objects.records import Notice
from firebox.objects.service import ObjectService
from firebox.outbox import Forwarder

log = logging.getLogger("firebox.s3")
RETRY_S = 1.0


class Undeliverable(Exception):
    """A notice whose target is gone for good (a deleted function or queue): dropped."""


Send = Callable[[Notice], Awaitable[None]]


class NoticeForwarder:
    """Moves notices from the object store's outbox to their targets."""

    def __init__(self, objects: ObjectService, send: Send, retry_s: float = RETRY_S) -> None:
        self._send = send
        self._outbox = Forwarder(objects.pending_notices, objects.delivered, self._deliver,
                                 retry_s)  # fmt: skip
        objects.on_notices = self._outbox.wake

    def start(self) -> None:
        self._outbox.start()

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
        await self._outbox.close()

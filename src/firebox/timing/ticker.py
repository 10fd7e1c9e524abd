"""The loop that fires schedules on time: it asks its owner to fire what is due, then sleeps
until the next due time it was told of, or until a change wakes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("firebox")
# Never sleep longer than this: a wall clock set forward (or a suspended host) is noticed.
MAX_SLEEP_S = 30.0


class Ticker:
    """Runs `fire_due(now)` (which fires everything due at `now` and returns the next due
    time, or None) whenever something may be due."""

    def __init__(
        self, fire_due: Callable[[float], Awaitable[float | None]],
        clock: Callable[[], float] = time.time, retry_s: float = 1.0,
    ) -> None:  # fmt: skip
        self._fire_due = fire_due
        self._clock = clock
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Schedules changed: look again now."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = await self._fire_due(self._clock())
            except Exception:  # firebox's own failure: said, then tried again
                log.exception("firing schedules failed; retrying")
                next_due = self._clock() + self._retry_s
            wait = MAX_SLEEP_S if next_due is None else next_due - self._clock()
            if wait <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(wait, MAX_SLEEP_S))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# A tick missed by no more than this still fires: AWS's own precision is the minute (a
# schedule for 1:00 may run at any time up to 1:00:59).
GRACE_S = 60.0
MAX_CATCH_UP_STEPS = 10_000


def catch_up(
    next_at: float, now: float, grace_s: float, next_after: Callable[[float], float | None]
) -> float | None:
    """The tick to fire now for a schedule due at `next_at` (its earliest unfired tick): the
    latest tick no later than `now` and no older than `grace_s`, fired once; None when every
    missed tick is older than that. Never a burst of every missed one."""
    tick = next_at if next_at >= now - grace_s else next_after(now - grace_s)
    if tick is None or tick > now:
        return None
    for _ in range(MAX_CATCH_UP_STEPS):  # later ticks within the grace: the latest wins
        later = next_after(tick)
        if later is None or later > now or later <= tick:
            break
        tick = later
    return tick


def advance(
    next_at: float, now: float, grace_s: float, next_after: Callable[[float], float | None]
) -> tuple[float | None, float | None]:
    """(the tick to fire now or None, the next tick after it or None): what a due schedule
    does at `now`. A next tick that is not later than the fired one means none (a schedule
    must never fire the same moment twice)."""
    fired = catch_up(next_at, now, grace_s, next_after)
    following = next_after(now if fired is None else fired)
    if following is not None and following <= (now if fired is None else fired):
        log.warning("a schedule's next tick did not move forward: it stops here")
        following = None
    return fired, following

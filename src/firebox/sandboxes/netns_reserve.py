"""Network namespaces made ahead of time, each with its veth already on the server's bridge.

Making an environment's network namespace and veth is kernel work (~1.3 ms of CPU, ~2 ms
of an on-demand cold start's critical path) that does not depend on the function. The
server keeps a few made ahead (`firebox-reaper netns`, at low priority, never while
on-demand environments are starting) as descriptors; a build joins one with setns (the
builder's joinnet step) instead of making its own. Each is used once: it leaves the reserve
with the environment that joins it and ends with that environment's last process. A held
namespace costs ~220 KB of kernel memory and no process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firebox.sandboxes.networks import Lease, SandboxNetwork

log = logging.getLogger("firebox.sandboxes")

BATCH = 8  # namespaces per firebox-reaper run (one exec for several)
REFILL_DELAY_S = 0.05
GIVE_UP_AFTER = 3  # batches in a row that made nothing (e.g. a bridge that refuses veths)
RETRY_S = 30.0  # then one more batch this much later


@dataclass(frozen=True)
class ReadyNetns:
    """A namespace made ahead: its descriptor (the caller closes it) and its address."""

    fd: int
    lease: Lease


class NetnsReserve:
    """Keeps `size` network namespaces ready; busy() says when to hold off refilling."""

    def __init__(
        self,
        net: SandboxNetwork,
        reaper: Path,
        size: int,
        busy: Callable[[], bool],
        retry_s: float = RETRY_S,
    ) -> None:
        self.net = net
        self.reaper = reaper
        self.size = size
        self.busy = busy
        self.retry_s = retry_s
        # Refill once this many are missing: one exec per batch, not one per take.
        self.low_water = min(BATCH, max(1, size // 4))
        self.batches = 0  # firebox-reaper runs started
        self._ready: collections.deque[ReadyNetns] = collections.deque()
        self._filling = False
        self._again: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        self._failures = 0

    def __len__(self) -> int:
        return len(self._ready)

    def take(self) -> ReadyNetns | None:
        """A ready namespace, if there is one (the caller owns its fd); refills later."""
        ready = self._ready.popleft() if self._ready else None
        # Not now: building takes CPU from the very cold start that took this one.
        self._later(REFILL_DELAY_S)
        return ready

    def want(self) -> None:
        """Starts making namespaces until `size` are ready (not while cold starts run)."""
        missing = self.size - len(self._ready)
        if self._closed or self._filling or missing < self.low_water:
            return
        if self._failures >= GIVE_UP_AFTER:
            return  # builds make their own namespaces until the retry (see _made)
        if self.busy():
            self._later(REFILL_DELAY_S)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        leases = []
        with contextlib.suppress(OSError):  # no free address: fewer (the builder says so)
            for _ in range(min(BATCH, missing)):
                leases.append(self.net.lease())
        if not leases:
            return
        self._filling = True
        self.batches += 1
        future = loop.run_in_executor(None, make, self.reaper, leases)
        future.add_done_callback(lambda done: self._made(leases, done))

    def _made(self, leases: list[Lease], done: asyncio.Future[list[int]]) -> None:
        self._filling = False
        error = None if done.cancelled() else done.exception()
        fds = done.result() if not done.cancelled() and error is None else []
        if error is not None:
            log.warning("cannot make network namespaces ahead: %s", error)
        for index, lease in enumerate(leases):
            fd = fds[index] if index < len(fds) else -1
            if fd >= 0 and not self._closed:
                self._ready.append(ReadyNetns(fd, lease))
                continue
            if fd >= 0:
                os.close(fd)
            self.net.release(lease)
        if any(fd >= 0 for fd in fds):
            self._failures = 0
        else:
            self._failures += 1
            if self._failures == GIVE_UP_AFTER:
                log.warning("no network namespaces made ahead: builds make their own; "
                            "trying again every %.0f s", self.retry_s)  # fmt: skip
            if self._failures >= GIVE_UP_AFTER:  # a transient cause (EMFILE) may pass
                with contextlib.suppress(RuntimeError):
                    # Its own timer: a take's pending look-again must not swallow it.
                    self._retry = asyncio.get_running_loop().call_later(self.retry_s, self._once)
                return
        self.want()

    def _once(self) -> None:
        """After a pause: allows one more batch."""
        self._retry = None
        self._failures = GIVE_UP_AFTER - 1
        self.want()

    def _later(self, delay: float) -> None:
        """Looks again after delay (once: every take asks)."""
        if self._again is not None or self._closed:
            return

        def again() -> None:
            self._again = None
            self.want()

        with contextlib.suppress(RuntimeError):
            self._again = asyncio.get_running_loop().call_later(delay, again)

    def close(self) -> None:
        """Lets every ready namespace go (the kernel removes it and its veth)."""
        self._closed = True
        for timer in (self._again, self._retry):
            if timer is not None:
                timer.cancel()
        self._again = self._retry = None
        while self._ready:
            ready = self._ready.popleft()
            os.close(ready.fd)
            self.net.release(ready.lease)


def make(reaper: Path, leases: list[Lease]) -> list[int]:
    """Runs `firebox-reaper netns` for these leases (in a worker thread): one namespace
    descriptor per lease, -1 for one it could not make."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    fds: list[int] = []
    try:
        args = [arg for lease in leases for arg in lease.args()]
        # posix_spawn: no copy of the server's image, and little Python holding the GIL.
        pid = os.posix_spawn(
            str(reaper),
            ["firebox-reaper", "netns", "3", *args],
            {},
            file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)],
            setsid=True,
        )
        theirs.close()
        try:
            while len(fds) < len(leases):
                message, received, _flags, _addr = socket.recv_fds(
                    ours, 1, 1, socket.MSG_CMSG_CLOEXEC
                )
                if not message:
                    break  # it ended early (it said why on stderr)
                fds.append(received[0] if message == b"N" and received else -1)
        finally:
            os.waitpid(pid, 0)
    except BaseException:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        ours.close()
        theirs.close()
    return fds + [-1] * (len(leases) - len(fds))

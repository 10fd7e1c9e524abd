"""The server's side of the zygotes: one per interpreter, started on first use."""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import marshal
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firebox.sandboxes import zygote

log = logging.getLogger("firebox.zygotes")

ZYGOTE = Path(zygote.__file__)
ExitCallback = Callable[[int], None]


class ZygoteError(OSError):
    """The zygote could not fork an environment (or is gone)."""


class Zygote:
    """One zygote process and the socket the server drives it through."""

    def __init__(self, interpreter: str, runtime_dir: Path, library: Path | None = None,
                 rootless: bool = False) -> None:  # fmt: skip
        self.interpreter = interpreter
        self.runtime_dir = runtime_dir
        self.library = library  # libfirebox-enter (reaper.py), for sandboxes the reaper builds
        self.rootless = rootless  # the zygote makes a user namespace of its own first
        self.pid: int | None = None
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, ExitCallback] = {}
        self._early_exits: dict[int, int] = {}
        self._wait_writable: asyncio.Future[None] | None = None
        self._built: dict[int, asyncio.Future[bool]] = {}  # pid → whether its runtime exists
        self.runtimes: dict[int, int] = {}  # an environment's first pid → its runtime's
        self._next_id = 0

    @property
    def alive(self) -> bool:
        return self._sock is not None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [self.interpreter, "-S", "-I", str(ZYGOTE), str(ZYGOTE.parent),
                 str(self.runtime_dir), str(theirs.fileno()),
                 *(["--rootless"] if self.rootless else []),
                 *([str(self.library)] if self.library else [])],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
                # The original environment block outlives os.environ.clear() in a forked
                # runtime (it can be read back from memory): never give it the server's.
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            )  # fmt: skip
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        await asyncio.wait_for(self._ready, timeout=30)

    async def spawn(self, spec: dict[str, Any], fds: list[int], on_exit: ExitCallback) -> int:
        """Forks an environment from the zygote; on_exit gets its wait status later."""
        if self._sock is None:
            raise ZygoteError("the zygote is not running")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = marshal.dumps({"op": "spawn", "id": request_id, "spec": spec})
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        try:
            await self._send(message, rights)
        except OSError as exc:
            self._pending.pop(request_id, None)
            raise ZygoteError(f"cannot reach the zygote: {exc}") from None
        pid = await future
        early = self._early_exits.pop(pid, None)
        if early is not None:  # it died before we heard it was born (one read, two messages)
            asyncio.get_running_loop().call_soon(on_exit, early)
        else:
            self._exits[pid] = on_exit
        return pid

    async def _send(self, message: bytes, rights: list[tuple[int, int, bytes]]) -> None:
        """Sends one request, waiting while the zygote's queue is full: a socket pair queues
        only net.unix.max_dgram_qlen (10) messages, fewer than a burst of cold starts."""
        while True:
            sock = self._sock
            if sock is None:
                raise ZygoteError("the zygote exited")
            try:
                sock.sendmsg([message], rights)
                return
            except BlockingIOError:
                with contextlib.suppress(TimeoutError):  # then look again (or at a lost zygote)
                    await asyncio.wait_for(asyncio.shield(self._writable(sock)), timeout=1.0)

    def _writable(self, sock: socket.socket) -> asyncio.Future[None]:
        """One wake-up for every sender waiting on a full queue (add_writer keeps one callback)."""
        if self._wait_writable is None or self._wait_writable.done():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def ready() -> None:
                loop.remove_writer(sock.fileno())
                if not future.done():
                    future.set_result(None)

            loop.add_writer(sock.fileno(), ready)
            self._wait_writable = future
        return self._wait_writable

    def built(self, pid: int) -> asyncio.Future[bool]:
        """True once the environment's runtime exists; False if it ended before that."""
        future = self._built.get(pid)
        if future is None:
            future = self._built[pid] = asyncio.get_running_loop().create_future()
        return future

    def _settle_built(self, pid: int, value: bool) -> None:
        future = self.built(pid)
        if not future.done():
            future.set_result(value)

    def _on_readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            self._handle(marshal.loads(data))

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "ready":
            self.pid = message["pid"]
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif op == "spawned":
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message["pid"])
        elif op == "failed":
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_exception(ZygoteError(message.get("error", "spawn failed")))
        elif op == "built":
            if message.get("runtime"):
                self.runtimes[message["pid"]] = message["runtime"]
            self._settle_built(message["pid"], True)
        elif op == "exit":
            self._settle_built(message["pid"], False)
            self._built.pop(message["pid"], None)
            self.runtimes.pop(message["pid"], None)
            callback = self._exits.pop(message["pid"], None)
            if callback is not None:
                callback(message["status"])
            else:
                self._early_exits[message["pid"]] = message["status"]

    def _lost(self) -> None:
        """The zygote died: its children die with it (PDEATHSIG), so report them all."""
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            asyncio.get_running_loop().remove_writer(self._sock.fileno())
            self._sock.close()
            self._sock = None
        log.warning("zygote for %s exited", self.interpreter)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ZygoteError("the zygote exited"))
        self._pending.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ZygoteError(f"zygote for {self.interpreter} did not start"))
        for pid in list(self._built):
            self._settle_built(pid, False)
        self._built.clear()
        exits, self._exits = self._exits, {}
        for callback in exits.values():
            callback(9)  # as if killed: wait status of SIGKILL
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        if self._proc is not None:
            self._proc.wait()

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._sock is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None


class Zygotes:
    """The zygote of each interpreter, started when first needed and again if it dies."""

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.library: Path | None = None  # set by the sandbox factory that built it
        self.rootless = False  # likewise
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Task[Zygote]] = {}

    def running(self, interpreter: str) -> bool:
        zygote = self._zygotes.get(interpreter)
        return zygote is not None and zygote.alive

    async def get(self, interpreter: str) -> Zygote:
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        task = self._starting.get(interpreter)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._start(interpreter))
            self._starting[interpreter] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(interpreter, None)

    async def _start(self, interpreter: str) -> Zygote:
        zygote = Zygote(interpreter, self.runtime_dir, self.library, self.rootless)
        await zygote.start()
        self._zygotes[interpreter] = zygote
        return zygote

    def close(self) -> None:
        for each in self._zygotes.values():
            each.close()
        self._zygotes.clear()


def wait_status_to_code(status: int) -> int:
    """A wait status as subprocess reports it: exit code, or -signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)

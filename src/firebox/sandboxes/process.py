"""Plain-process sandboxes: a process group per environment, no isolation beyond that."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
from pathlib import Path

from firebox.sandboxes.base import SandboxSpec, SandboxState

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the server dies, so does the runtime.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class PlainListener:
    """A Runtime API listener on the host's loopback, on a port of the kernel's choosing."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.setblocking(False)
        host, port = self._sock.getsockname()
        self.address = f"{host}:{port}"

    def take(self) -> socket.socket:
        """Hands the socket over to the server, which closes it from then on."""
        sock, self._sock = self._sock, None
        if sock is None:
            raise OSError("the Runtime API listener was already taken")
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ProcessSandbox:
    """A runtime process in its own session, so the whole group can be killed at once."""

    def __init__(self, spec: SandboxSpec) -> None:
        self.spec = spec
        self.state = SandboxState.CREATED
        self.output_fd = -1
        self.exit_fd = -1
        self._listener = PlainListener()
        self.runtime_api_address = self._listener.address
        self.inside_address: str | None = "127.0.0.1"  # the host's own network
        self._proc: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None

    async def listener(self) -> socket.socket:
        return self._listener.take()

    def api_listener(self) -> socket.socket | None:
        return None  # the host's network: the server's own port is in reach

    def initialised(self) -> None:
        pass  # no cgroup: nothing to limit

    def exit_reason(self) -> str | None:
        return None  # plain processes have no cgroup to tell an out-of-memory kill apart

    async def start(self) -> None:
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            self._proc = subprocess.Popen(
                self.spec.argv,
                cwd=self.spec.code_dir,
                env={**self.spec.environ, "AWS_LAMBDA_RUNTIME_API": self.runtime_api_address},
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.output_fd = read_fd
        self.state = SandboxState.RUNNING
        try:
            os.set_blocking(read_fd, False)
            self.exit_fd = os.pidfd_open(self._proc.pid)
        except OSError:
            self.kill()  # the process is running: never leave it behind
            raise

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def reap(self) -> int | None:
        if self._returncode is None and self._proc is not None:
            self._returncode = self._proc.poll()
        return self._returncode

    def kill(self) -> None:
        if self._proc is not None and self.state is not SandboxState.DEAD:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._returncode = self._proc.wait()
        self.state = SandboxState.DEAD
        self._listener.close()
        for fd in (self.output_fd, self.exit_fd):
            if fd >= 0:
                os.close(fd)
        self.output_fd = self.exit_fd = -1

    def max_memory_mb(self) -> int:
        if self._proc is None or self.state is SandboxState.DEAD:
            return 0
        try:
            with open(f"/proc/{self._proc.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        return max(1, int(line.split()[1]) // 1024)
        except (OSError, ValueError, IndexError):
            pass
        return 0


class ProcessSandboxFactory:
    """Runs environments as plain processes on the host (no namespaces, cgroups or seccomp)."""

    name = "process"
    reaches_host = True
    api_endpoint: str | None = None
    mounts = False  # runtimes see the host's own paths

    def create(self, spec: SandboxSpec, prebuilt: bool = True) -> ProcessSandbox:
        return ProcessSandbox(spec)

    def task_root(self, code_dir: Path) -> str:
        return str(code_dir)

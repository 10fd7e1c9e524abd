"""The sandbox interface: start a runtime's process tree, watch it, kill it."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from firebox.runtimes.sdk import Sdk


class SandboxState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    DEAD = "dead"


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a sandbox needs to start one execution environment."""

    env_id: str
    argv: list[str]
    environ: dict[str, str]  # AWS_LAMBDA_RUNTIME_API is added by the sandbox, which knows it
    code_dir: Path  # host path of the unpacked code
    runtime_dir: Path  # host path of firebox's runtime files
    memory_mb: int
    ephemeral_storage_mb: int
    interpreter: str | None = None  # host path of a Python runtime's interpreter
    label: str = ""  # the function's name: makes the environment's cgroup recognisable


class Sandbox(Protocol):
    """One environment's process tree. Every method is harmless once the sandbox is dead."""

    state: SandboxState
    output_fd: int  # non-blocking read end of the tree's merged stdout and stderr
    exit_fd: int  # becomes readable when the sandbox's top process exits
    runtime_api_address: str  # host:port of the Runtime API as the runtime reaches it

    @property
    def pid(self) -> int | None:
        """The host pid of the sandbox's top process."""

    async def start(self) -> None:
        """Starts the runtime process; raises OSError if it cannot."""

    async def listener(self) -> socket.socket:
        """The listening socket to serve the Runtime API on, once started."""

    def reap(self) -> int | None:
        """Collects the exit status once exited: an exit code, or -signal; None if running."""

    def kill(self) -> None:
        """Kills the whole tree at once and releases its resources."""

    def max_memory_mb(self) -> int:
        """The peak memory the environment has used so far."""

    def initialised(self) -> None:
        """The runtime finished its init: from now on the environment gets its CPU share."""

    def exit_reason(self) -> str | None:
        """Why the environment was ended from outside (e.g. out of memory), if known."""


class SandboxFactory(Protocol):
    """Makes sandboxes of one kind."""

    name: str
    reaches_host: bool  # whether code inside can connect to the host's loopback services
    sdk: Sdk | None  # the AWS SDK bundled into Python runtimes, if prepared

    def create(self, spec: SandboxSpec, prebuilt: bool = True) -> Sandbox:
        """A sandbox ready to start; prebuilt=False forbids handing out a pre-built one."""

    def task_root(self, code_dir: Path) -> str:
        """The path of the code as the runtime sees it."""

    def runtime_root(self, runtime_dir: Path) -> str:
        """The path of firebox's runtime files as the runtime sees it."""

    def interpreter(self, host_path: str) -> tuple[str, str | None]:
        """An interpreter's path as the runtime sees it, and a library dir it needs, if any."""

    def sdk_root(self, interpreter: str | None) -> str | None:
        """The bundled SDK's path as a runtime of this interpreter sees it; None without."""

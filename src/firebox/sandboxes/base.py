"""The sandbox interface: start a runtime's process tree, watch it, kill it."""

from __future__ import annotations

import enum
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class SandboxState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    DEAD = "dead"


@dataclass(frozen=True)
class Mount:
    """A host directory a sandbox shows, read-only, at a path of its own."""

    host: str
    inside: str


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a sandbox needs to start one execution environment, whatever its language."""

    env_id: str
    argv: list[str]
    environ: dict[str, str]  # AWS_LAMBDA_RUNTIME_API is added by the sandbox, which knows it
    code_dir: Path  # host path of the unpacked code (the sandbox shows it at /var/task)
    memory_mb: int
    ephemeral_storage_mb: int
    mounts: tuple[Mount, ...] = ()  # what else the runtime needs (its files, its interpreter)
    # An interpreter whose zygote starts this runtime in-process (argv then unused) and whose
    # pre-built sandboxes it can take, and what that zygote needs to know; None: exec argv.
    zygote: str | None = None
    in_process: Mapping[str, object] = field(default_factory=dict)
    label: str = ""  # the function's name: makes the environment's cgroup recognisable
    opt_dir: Path | None = None  # host path of its layers' merged tree (shown at /opt)
    # Its runtime (exec'd, argv) can start before its function is assigned and wait for it,
    # reading the function's environment (NUL-separated KEY=VALUE) from _FIREBOX_ASSIGN_FD.
    early: bool = False


class Sandbox(Protocol):
    """One environment's process tree. Every method is harmless once the sandbox is dead."""

    state: SandboxState
    output_fd: int  # non-blocking read end of the tree's merged stdout and stderr
    exit_fd: int  # becomes readable when the sandbox's top process exits
    runtime_api_address: str  # host:port of the Runtime API as the runtime reaches it
    # The address the server reaches listeners inside at (`sandbox.localdomain`, where
    # extensions take their telemetry); None when it cannot reach them.
    inside_address: str | None

    @property
    def pid(self) -> int | None:
        """The host pid of the sandbox's top process."""

    async def start(self) -> None:
        """Starts the runtime process; raises OSError if it cannot."""

    async def listener(self) -> socket.socket:
        """The listening socket to serve the Runtime API on, once started."""

    def api_listener(self) -> socket.socket | None:
        """A listening socket inside the sandbox to serve the AWS APIs on (taken once, after
        listener()); None where the sandbox reaches the server's own port."""

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
    api_endpoint: str | None  # where code inside reaches the AWS APIs, if not the server's port
    mounts: bool  # whether it shows spec.mounts at their paths (else runtimes use host paths)

    def create(self, spec: SandboxSpec, prebuilt: bool = True) -> Sandbox:
        """A sandbox ready to start; prebuilt=False forbids handing out a pre-built one."""

    def task_root(self, code_dir: Path) -> str:
        """The path of the code as the runtime sees it."""

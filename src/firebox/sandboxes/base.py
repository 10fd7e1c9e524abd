"""The sandbox interface: start a runtime's process tree, watch it, kill it."""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class SandboxState(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    DEAD = "dead"


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a sandbox needs to start one execution environment."""

    env_id: str
    argv: list[str]
    environ: dict[str, str]
    code_dir: Path  # host path of the unpacked code, seen by the runtime as its task root
    runtime_dir: Path  # host path of firebox's runtime files
    memory_mb: int
    ephemeral_storage_mb: int


class Sandbox(Protocol):
    """One environment's process tree. Every method is harmless once the sandbox is dead."""

    state: SandboxState
    output_fd: int  # non-blocking read end of the tree's merged stdout and stderr
    exit_fd: int  # becomes readable when the runtime process exits

    def start(self) -> None:
        """Starts the runtime process; raises OSError if it cannot."""

    def reap(self) -> int | None:
        """Collects the exit status once exited: an exit code, or -signal; None if running."""

    def kill(self) -> None:
        """Kills the whole tree at once and releases its resources."""

    def max_memory_mb(self) -> int:
        """The peak memory the environment has used so far."""


class SandboxFactory(Protocol):
    """Makes sandboxes of one kind and the Runtime API listeners they can reach."""

    name: str

    def runtime_api_listener(self, env_id: str) -> tuple[socket.socket, str]:
        """A listening socket the environment can reach, and the host:port it reaches it at."""

    def create(self, spec: SandboxSpec) -> Sandbox:
        """A sandbox ready to start."""

    def task_root(self, code_dir: Path) -> str:
        """The path of the code as the runtime sees it."""

    def runtime_root(self, runtime_dir: Path) -> str:
        """The path of firebox's runtime files as the runtime sees it."""

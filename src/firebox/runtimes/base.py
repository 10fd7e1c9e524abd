"""What a language plugs into firebox with: its runtimes, and how each starts in a sandbox.

A language is an adapter (python.py, node.py, provided.py): it says which of
its runtimes this host can run and, for one of them, what to run, with what environment and
which files mounted where. Sandboxes take that as it is (a language-neutral spec) and never
ask which language it was.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from firebox.sandboxes.base import Mount

RUNTIME_ROOT = "/var/runtime"  # where every runtime's own files are, as on Lambda


@dataclass(frozen=True)
class Runtime:
    """A runtime a function can name, as this host runs it."""

    name: str
    language: str  # the adapter's name: "python", "provided"
    interpreter: str | None = None  # host path of the program firebox runs it with, if any

    @property
    def is_python(self) -> bool:
        return self.language == "python"


@dataclass(frozen=True)
class Launch:
    """How a runtime starts: its command, its variables and the files it needs.

    Paths are as the runtime sees them: the `inside` ones where the sandbox mounts, the host's
    own where it cannot (plain processes)."""

    argv: tuple[str, ...]
    environ: Mapping[str, str]  # set after the function's own variables (they cannot override)
    library_path: str  # LD_LIBRARY_PATH, unless the function sets its own
    mounts: tuple[Mount, ...] = ()
    # An interpreter whose zygote can start this runtime in-process (it then ignores argv),
    # and what that zygote needs to know to do so; None: argv is exec'd.
    zygote: str | None = None
    in_process: Mapping[str, object] = field(default_factory=dict)
    # Whether argv can be started before its function is assigned (see SandboxSpec.early),
    # unless the function sets variables the program reads only when it starts (prefixes).
    early: bool = False
    read_at_start: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1024)
def has_libraries(tree: Path) -> bool:
    """Whether a (never changing) package's or layers' tree holds shared libraries in lib/."""
    try:
        return any(".so" in entry.name for entry in (tree / "lib").iterdir())
    except OSError:
        return False


def layers_root(mounted: bool, opt_dir: Path | None) -> str:
    """Where a runtime finds its layers: /opt in a sandbox that mounts (empty without any),
    else their host path."""
    return str(opt_dir) if opt_dir is not None and not mounted else "/opt"


class Language(Protocol):
    """One language's runtimes on this host."""

    name: str

    def runtimes(self) -> list[str]:
        """The names this host can run, in the order to show them."""

    def claims(self, name: str) -> bool:
        """Whether a runtime name is this language's (even one the host cannot run)."""

    def resolve(self, name: str) -> Runtime | None:
        """The runtime, if this host can run it."""

    def missing(self, name: str) -> str:
        """Why a name this language claims does not resolve, saying what to do about it."""

    def launch(
        self, runtime: Runtime, task_root: str, mounted: bool, memory_mb: int = 128,
        opt_dir: Path | None = None,
    ) -> Launch:  # fmt: skip
        """How to start the runtime for code at task_root; `mounted`: whether the sandbox
        mounts (else paths are the host's); `memory_mb`: the function's memory setting;
        `opt_dir`: the host path of its layers' merged tree, if it has layers."""

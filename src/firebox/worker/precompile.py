"""Bytecode compiled once per package and interpreter, so cold starts do not compile.

/var/task is read-only, so Python could never write the `.pyc` files of a function's modules
and compiled them again at every cold start: ~300 ms of a FastAPI app's ~600 ms import. After
a package is stored, its modules are compiled by the function's own interpreter into the
package's own `__pycache__` directories (hash-based pycs that skip the source timestamp check:
a package never changes), exactly where Python looks for them, so nothing else changes: no
mount, no environment variable, the standard library keeps its own caches.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("firebox.worker.precompile")

# Runs under the function's interpreter (stdlib only, Python 3.8+).
SCRIPT = r"""
import os, py_compile, sys
source, task_root = sys.argv[1:3]
tag = sys.implementation.cache_tag
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
root = os.path.realpath(source)
for dirpath, dirnames, filenames in os.walk(source):
    dirnames[:] = [d for d in dirnames if d != "__pycache__"]
    cache = os.path.join(dirpath, "__pycache__")
    # Never through a link: the bytecode goes in this package's own directories only.
    if os.path.islink(cache) or not os.path.realpath(dirpath).startswith(root):
        continue
    inside = os.path.normpath(os.path.join(task_root, os.path.relpath(dirpath, source)))
    for name in filenames:
        if name.endswith(".py") and not os.path.islink(os.path.join(dirpath, name)):
            cfile = os.path.join(dirpath, "__pycache__", name[:-3] + "." + tag + ".pyc")
            if not os.path.exists(cfile):
                py_compile.compile(os.path.join(dirpath, name), cfile=cfile, quiet=2,
                                   dfile=os.path.join(inside, name), invalidation_mode=mode)
"""


def _background() -> None:
    """Compiling waits for idle CPU: it must never slow the cold starts it is meant to help."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


def interpreter_key(interpreter: str) -> str:
    return hashlib.sha256(os.path.realpath(interpreter).encode()).hexdigest()[:12]


class Precompiler:
    """Compiles each (package, interpreter) once, in the background, one at a time."""

    def __init__(self, code_root: Path, task_root: Callable[[Path], str]) -> None:
        self.code_root = code_root
        self.task_root = task_root
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()  # one compile at a time: cold starts keep the CPU

    def _marker(self, code_dir: Path, interpreter: str) -> Path:
        # Beside the package, not in it: what the function sees stays its own files (and
        # the __pycache__ directories Python itself would have written).
        return self.code_root / f"{code_dir.name}.compiled-{interpreter_key(interpreter)}"

    def ready(self, code_dir: Path, interpreter: str | None) -> bool:
        """Whether a package's modules are compiled for an interpreter."""
        return interpreter is not None and self._marker(code_dir, interpreter).exists()

    def want(self, code_dir: Path, interpreter: str | None, inside: str | None = None) -> None:
        """Starts compiling a package for an interpreter unless done or under way; `inside`:
        where environments see it, if not as code (a function's layers, at /opt)."""
        if interpreter is None or self.ready(code_dir, interpreter):
            return
        key = (code_dir.name, interpreter)
        if key in self._pending:
            return
        seen_at = inside or self.task_root(code_dir)
        task = asyncio.get_running_loop().create_task(self._compile(code_dir, interpreter, seen_at))
        self._pending[key] = task
        task.add_done_callback(lambda _: self._pending.pop(key, None))

    async def _compile(self, code_dir: Path, interpreter: str, seen_at: str) -> None:
        async with self._lock:
            if not code_dir.is_dir():
                return
            proc = await asyncio.create_subprocess_exec(
                interpreter, "-S", "-c", SCRIPT, str(code_dir), seen_at,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                preexec_fn=_background,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode != 0:
                if not code_dir.is_dir():
                    return  # the package was deleted while it compiled: nothing went wrong
                log.warning("precompiling %s failed: %s", code_dir.name, err.decode()[-300:])
                return
            if code_dir.is_dir():  # not deleted while it compiled
                self._marker(code_dir, interpreter).touch()

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()

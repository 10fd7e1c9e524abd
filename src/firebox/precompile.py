"""Bytecode compiled once per package and interpreter, so cold starts do not compile.

/var/task is read-only, so Python could never write the `.pyc` files of a function's modules
and compiled them again at every cold start: ~300 ms of a FastAPI app's ~600 ms import. After
a package is stored, its modules are compiled by the function's own interpreter into
`code/<sha>.pycache/<interpreter key>/`, laid out for `sys.pycache_prefix` (hash-based pycs
that skip the source timestamp check: a package never changes). Environments get it
read-only at /var/pycache with PYTHONPYCACHEPREFIX pointing there.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("firebox.precompile")

# Runs under the function's interpreter (stdlib only, Python 3.8+).
SCRIPT = r"""
import os, py_compile, sys
source, prefix, task_root = sys.argv[1:4]
tag = sys.implementation.cache_tag
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for dirpath, dirnames, filenames in os.walk(source):
    dirnames[:] = [d for d in dirnames if d != "__pycache__"]
    inside = os.path.normpath(os.path.join(task_root, os.path.relpath(dirpath, source)))
    for name in filenames:
        if name.endswith(".py"):
            cfile = prefix + inside + "/" + name[:-3] + "." + tag + ".pyc"
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

    def ready(self, code_dir: Path, interpreter: str | None) -> Path | None:
        """The compiled tree of a package for an interpreter, if it exists yet."""
        if interpreter is None:
            return None
        path = self.code_root / f"{code_dir.name}.pycache" / interpreter_key(interpreter)
        return path if path.is_dir() else None

    def want(self, code_dir: Path, interpreter: str | None) -> None:
        """Starts compiling a package for an interpreter unless done or under way."""
        if interpreter is None or self.ready(code_dir, interpreter) is not None:
            return
        key = (code_dir.name, interpreter)
        if key in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._compile(code_dir, interpreter))
        self._pending[key] = task
        task.add_done_callback(lambda _: self._pending.pop(key, None))

    async def _compile(self, code_dir: Path, interpreter: str) -> None:
        async with self._lock:
            target = self.code_root / f"{code_dir.name}.pycache" / interpreter_key(interpreter)
            staging = target.with_name(f".tmp-{uuid.uuid4().hex}")
            staging.parent.mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                interpreter, "-S", "-c", SCRIPT, str(code_dir), str(staging),
                self.task_root(code_dir),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                preexec_fn=_background,
            )  # fmt: skip
            _, err = await proc.communicate()
            if proc.returncode != 0:
                log.warning("precompiling %s failed: %s", code_dir.name, err.decode()[-300:])
                shutil.rmtree(staging, ignore_errors=True)
                return
            staging.mkdir(exist_ok=True)  # a package without .py files: an empty tree
            try:
                os.rename(staging, target)
            except OSError:  # compiled meanwhile by another server on the same store
                shutil.rmtree(staging, ignore_errors=True)
            if not code_dir.is_dir():  # the package was deleted while it compiled
                self.remove(code_dir.name)

    def remove(self, sha256: str) -> None:
        shutil.rmtree(self.code_root / f"{sha256}.pycache", ignore_errors=True)

    def close(self) -> None:
        for task in self._pending.values():
            task.cancel()

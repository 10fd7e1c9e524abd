"""Builds firebox-reaper (reaper.c, outbound.c), the small program that builds sandboxes, and
libfirebox-enter (enter.c), through which a zygote forks a runtime into one."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("firebox.sandboxes")
SOURCES = [Path(__file__).with_name(name) for name in ("reaper.c", "outbound.c")]
LIBRARY_SOURCES = [Path(__file__).with_name("enter.c")]
# Executable but not readable by sandbox uids: the kernel then starts pid 1's reaper
# non-dumpable, so there is no moment in which the runtime (same uid) could read its memory.
MODE = 0o711


def cache_dir(data_dir: Path) -> Path:
    """Where the built program is kept: shared by every server of this user, else per data dir."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "firebox"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return data_dir / "bin"
    return cache if os.access(cache, os.W_OK) else data_dir / "bin"


def library(program: Path) -> Path:
    """The libfirebox-enter built with this firebox-reaper."""
    return program.with_name(program.name.replace("firebox-reaper-", "libfirebox-enter-") + ".so")


def build(directory: Path) -> Path | None:
    """Compiles the reaper and its library into directory once per source version; None
    without a C compiler (or if either fails to build).

    Without them environments still work: their monitor and pid 1 stay Python processes, which
    costs ~3 MB more memory per idle environment.
    """
    source = b"".join(path.read_bytes() for path in SOURCES + LIBRARY_SOURCES)
    target = directory / f"firebox-reaper-{hashlib.sha256(source).hexdigest()[:12]}"
    if target.exists() and library(target).exists():
        os.chmod(target, MODE)
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler: idle environments keep Python monitors (~3 MB more each)")
        return None
    directory.mkdir(parents=True, exist_ok=True)
    # The library first: the reaper's existence says both are there.
    if not _compile(compiler, [["-shared", "-fPIC"]], LIBRARY_SOURCES, library(target)):
        return None
    # Static: no dynamic loader at exec, and nothing to resolve inside the sandbox's root.
    return target if _compile(compiler, [["-static"], []], SOURCES, target) else None


def _compile(compiler: str, variants: list[list[str]], sources: list[Path], target: Path) -> bool:
    """Compiles sources into target with the first variant of flags that works."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    for flags in variants:
        result = subprocess.run(
            [compiler, "-O2", "-Wall", *flags, "-o", str(partial), *map(str, sources)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            os.chmod(partial, MODE)
            os.replace(partial, target)
            return True
    log.warning("cannot build %s: %s", target.name, result.stderr.strip()[-500:])
    return False

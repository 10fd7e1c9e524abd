"""Builds firebox-reaper (reaper.c, outbound.c): the small program that builds sandboxes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("firebox.sandboxes")
SOURCES = [Path(__file__).with_name(name) for name in ("reaper.c", "outbound.c")]
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


def build(directory: Path) -> Path | None:
    """Compiles the reaper into directory once per source version; None without a C compiler.

    Without it environments still work: their monitor and pid 1 stay Python processes, which
    costs ~3 MB more memory per idle environment.
    """
    source = b"".join(path.read_bytes() for path in SOURCES)
    target = directory / f"firebox-reaper-{hashlib.sha256(source).hexdigest()[:12]}"
    if target.exists():
        os.chmod(target, MODE)
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.warning("no C compiler: idle environments keep Python monitors (~3 MB more each)")
        return None
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    # Static: no dynamic loader at exec, and nothing to resolve inside the sandbox's root.
    for extra in (["-static"], []):
        result = subprocess.run(
            [compiler, "-O2", "-Wall", *extra, "-o", str(partial), *map(str, SOURCES)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            os.chmod(partial, MODE)
            os.replace(partial, target)
            return target
    log.warning("cannot build firebox-reaper: %s", result.stderr.strip()[-500:])
    return None

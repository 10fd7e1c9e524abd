"""Packages uploaded for deploys, kept by their SHA-256 while a stack refers to them."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from firebox.stacks.errors import validation

SHA256 = re.compile(r"^[0-9a-f]{64}$")
GRACE_S = 3600.0  # an upload not yet named by a stack survives this long (a deploy in flight)


class Artifacts:
    """Files `<sha256>.zip`, written whole (tmp, fsync, rename) and checked against their name."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise validation(f"Artifact {sha256!r} is not a SHA-256 in hex")
        return self.root / f"{sha256}.zip"

    def has(self, sha256: str) -> bool:
        """Whether it is here; a package found is kept another grace period (the deploy that
        asked is about to name it)."""
        path = self._path(sha256)
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise validation("The artifact's content does not match its SHA-256")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError:
            raise validation(f"Artifact {sha256} was not uploaded (upload it, then deploy "
                             "again)") from None  # fmt: skip

    def collect(self, in_use: Iterable[str]) -> int:
        """Removes artifacts no stack names (older than the grace period); returns how many."""
        keep, removed = set(in_use), 0
        cutoff = self.clock() - GRACE_S
        for path in self.root.glob("*.zip"):
            if path.stem in keep:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

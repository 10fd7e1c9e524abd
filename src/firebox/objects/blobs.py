"""Object bytes as files: written to a temporary file, fsync'd, then renamed into place, so a
blob is either whole or absent; the metadata store says which blobs are objects."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO


class BlobWriter:
    """One blob being written; `commit()` makes it durable and returns its id."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self.id = uuid.uuid4().hex
        self._tmp = store.tmp / self.id
        self._file: BinaryIO | None = open(self._tmp, "wb")  # noqa: SIM115  # closed below
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> str:
        """fsync, rename into place and fsync the directory: durable when it returns."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final = self._store.path(self.id)
        self._store.fan_out(final.parent)
        os.rename(self._tmp, final)
        _fsync_dir(final.parent)
        return self.id

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blob files under `root`: `blobs/<2 hex>/<id>` and `tmp/` for those being written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.blobs = root / "blobs"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(exist_ok=True)

    def fan_out(self, directory: Path) -> None:
        """A `blobs/<2 hex>` directory, made durable the first time (its parent fsync'd)."""
        if not directory.is_dir():
            directory.mkdir(exist_ok=True)
            _fsync_dir(directory.parent)

    def path(self, blob: str) -> Path:
        return self.blobs / blob[:2] / blob

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def open(self, blob: str) -> BinaryIO:
        return open(self.path(blob), "rb")  # the caller closes it

    def link(self, blob: str) -> str:
        """A new blob with the same bytes (a hard link: no copy), durable when it returns."""
        new = uuid.uuid4().hex
        target = self.path(new)
        self.fan_out(target.parent)
        os.link(self.path(blob), target)
        _fsync_dir(target.parent)
        return new

    def remove(self, blobs: Iterable[str]) -> None:
        for blob in blobs:
            with contextlib.suppress(FileNotFoundError):
                self.path(blob).unlink()

    def sweep(self, referenced: set[str]) -> int:
        """At start: drops unfinished writes and blobs no object or part refers to (a PUT
        cut short, or one whose old version had not been removed yet). Returns how many."""
        dropped = 0
        for leftover in self.tmp.iterdir():
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            dropped += 1
        for fan in self.blobs.iterdir():
            for blob in fan.iterdir():
                if blob.name not in referenced:
                    blob.unlink()
                    dropped += 1
        return dropped

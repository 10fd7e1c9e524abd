"""Reading an object's bytes: inline ones from the store, others from their blob files. A
Body holds its object's files against removal (the service defers removing a file someone
reads), so a PUT that replaces the object meanwhile cannot cut a GET short; each file is
opened only when the range reaches it (an object of 10,000 parts is not 10,000 open files)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from pathlib import Path

CHUNK = 256 * 1024


class Body:
    """An object's bytes, held: `chunks(first, last)` yields the range, then releases them."""

    def __init__(
        self,
        inline: bytes | None,
        paths: list[Path],
        sizes: tuple[int, ...],
        release: Callable[[], None] = lambda: None,
    ) -> None:
        self._inline = inline
        self._paths = paths
        self._sizes = sizes
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    @property
    def small(self) -> bool:
        return self._inline is not None

    def read_all(self) -> bytes:
        """The whole of an inline body."""
        assert self._inline is not None
        return self._inline

    def chunks(self, first: int, last: int) -> Generator[bytes, None, None]:
        """Bytes first..last (inclusive), in chunks; releases the files when done."""
        try:
            if self._inline is not None:
                yield self._inline[first : last + 1]
                return
            offset = 0
            for path, size in zip(self._paths, self._sizes, strict=True):
                start, end = max(first, offset), min(last + 1, offset + size)
                if start < end:
                    with open(path, "rb") as file:
                        file.seek(start - offset)
                        remaining = end - start
                        while remaining > 0:
                            data = file.read(min(CHUNK, remaining))
                            if not data:
                                raise OSError("an object's file is shorter than its record says")
                            remaining -= len(data)
                            yield data
                offset += size
        finally:
            self.close()

    def close(self) -> None:
        """Lets the files go (once, whichever thread calls first): a replaced object's files
        may be removed now."""
        with self._lock:
            release, self._release = self._release, None
        if release is not None:
            release()

"""Reading an object's bytes: inline ones from the store, others from their blob files,
opened before the first byte is sent, so a PUT that replaces the object meanwhile (and
removes its files) cannot cut a GET short."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 256 * 1024


class Body:
    """An object's bytes, held open: `chunks(first, last)` yields the range, then closes."""

    def __init__(self, inline: bytes | None, files: list[BinaryIO], sizes: tuple[int, ...]):
        self._inline = inline
        self._files = files
        self._sizes = sizes

    @property
    def small(self) -> bool:
        return self._inline is not None

    def read_all(self) -> bytes:
        """The whole of an inline body."""
        assert self._inline is not None
        return self._inline

    def chunks(self, first: int, last: int) -> Iterator[bytes]:
        """Bytes first..last (inclusive), in chunks; closes the files when done."""
        try:
            if self._inline is not None:
                yield self._inline[first : last + 1]
                return
            offset = 0
            for file, size in zip(self._files, self._sizes, strict=True):
                start, end = max(first, offset), min(last + 1, offset + size)
                if start < end:
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
        for file in self._files:
            with contextlib.suppress(OSError):
                file.close()
        self._files = []

"""Turns an environment's output pipe into timestamped lines, with bounded memory."""

from __future__ import annotations

import os
import time

# CloudWatch's largest event: a longer line is split rather than held in memory whole.
MAX_LINE_BYTES = 256 * 1024


class OutputCapture:
    """Reads whatever is in the pipe and returns the complete lines seen so far."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.eof = False
        self._pending = b""

    def drain(self, final: bool = False) -> list[tuple[int, str]]:
        """Reads without blocking; with final, a trailing partial line is returned too."""
        chunks = [self._pending]
        while not self.eof and self.fd >= 0:
            try:
                chunk = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if final and self._pending:
            lines.append(self._pending)
            self._pending = b""
        while len(self._pending) > MAX_LINE_BYTES:
            lines.append(self._pending[:MAX_LINE_BYTES])
            self._pending = self._pending[MAX_LINE_BYTES:]
        now = int(time.time() * 1000)
        return [(now, line.decode("utf-8", "replace")) for line in lines]

"""Turns an environment's output pipe into timestamped lines, with bounded memory."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

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


class LogRateLimit:
    """A token bucket on an environment's log bytes, so a function cannot fill the disk."""

    def __init__(
        self,
        rate: float = 2 * 1024 * 1024,
        burst: float = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()
        self.dropped = 0  # bytes dropped since the last notice

    def admit(self, lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Keeps the lines the budget allows; says how much was dropped once it allows again."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        kept: list[tuple[int, str]] = []
        for ts, line in lines:
            size = len(line) + 1
            if size <= self._tokens:
                if self.dropped:
                    kept.append((ts, f"[firebox] {self.dropped} bytes of log output dropped: "
                                     f"more than {self.rate / 1048576:.0f} MiB/s"))  # fmt: skip
                    self.dropped = 0
                self._tokens -= size
                kept.append((ts, line))
            else:
                self.dropped += size
        return kept

"""What every cgroup backend provides: one environment's group, and one server's tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Protocol

FULL_CORE_MB = 1769  # Lambda: 1,769 MB of memory buys one full vCPU
CFS_PERIOD_US = 100_000
PIDS_MAX = 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


class EnvironmentCgroup(Protocol):
    """One environment's limits and counters; every method tolerates a missing group."""

    name: str
    memory_mb: int  # the MemorySize its limits were last set for (0: not yet)

    @property
    def procs_files(self) -> list[str]:
        """The files an environment's processes join by writing their pid (one per hierarchy)."""

    @property
    def counter_files(self) -> tuple[str, str]:
        """(OOM kills, limit hits): read by the sandbox's monitor for its last report. Each is
        a number, or lines of `key value` holding `oom_kill` and `max` (see read_counter)."""

    def create(self, memory_mb: int, pids_max: int = PIDS_MAX) -> None: ...

    def limit_cpu(self, memory_mb: int) -> None:
        """CPU in proportion to memory, once init is over (init runs unthrottled)."""

    def resize(self, memory_mb: int) -> None:
        """Memory limit and CPU weight for a new MemorySize (the quota follows after init)."""

    def renamed(self, name: str) -> EnvironmentCgroup: ...

    def max_memory_bytes(self) -> int: ...

    def memory_bytes(self) -> int:
        """What the group's processes are charged for now (pages they wrote, their /tmp)."""

    def resident_bytes(self) -> int:
        """The resident sets of the group's processes, summed (shared pages included)."""

    def oom_killed(self) -> bool: ...

    def remove(self) -> bool:
        """Removes the group; False while a process still lingers in it."""


class CgroupTree(Protocol):
    """One server's parent group(s): makes environments' groups, sweeps, tidies."""

    version: str  # "cgroup v1", "cgroup v2" or "none"
    where: str  # the parent group, for reports

    def group(self, name: str) -> EnvironmentCgroup: ...

    def release(self, cgroup: EnvironmentCgroup) -> None:
        """Removes a dead environment's group, retrying while its last processes exit."""

    def sweep(self) -> None:
        """Kills and removes what a crashed predecessor with this data dir left behind."""

    def close(self) -> None: ...


class Lingering:
    """Retries removing groups whose last processes are still exiting."""

    def __init__(self) -> None:
        self._lingering: list[EnvironmentCgroup] = []

    def release(self, cgroup: EnvironmentCgroup) -> None:
        if cgroup.remove():
            return
        self._lingering.append(cgroup)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(0.2, self._retry)

    def _retry(self) -> None:
        lingering, self._lingering = self._lingering, []
        for cgroup in lingering:
            self.release(cgroup)


def cpu_quota_us(memory_mb: int) -> int:
    """The CPU quota per 100 ms period: 1,769 MB buys one full core, 128 MB about 7 %."""
    return max(1000, CFS_PERIOD_US * memory_mb // FULL_CORE_MB)


def write(path: str, value: str, optional: bool = False) -> None:
    # os.open/os.write on plain strings: on the cold-start path pathlib's joins and text-mode
    # file objects cost more than the sysfs calls themselves.
    # O_TRUNC, as a shell's `>` does: the kernel takes each write whole either way.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError:
        if not optional:
            raise


def read_text(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, 4096).decode()
        finally:
            os.close(fd)
    except OSError:
        return ""


def read_int(path: str) -> int:
    try:
        return int(read_text(path))
    except ValueError:
        return 0


def read_counter(text: str, key: str) -> int:
    """A counter file's value: a plain number (v1's failcnt), or the `key` line of a flat-keyed
    file (v1's memory.oom_control, v2's memory.events). The monitors read them the same way."""
    text = text.strip()
    if not text:
        return 0
    if text[0].isdigit():
        return int(text.split()[0])
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value or 0)
    return 0


def resident_bytes(procs_file: str) -> int:
    """The resident sets of the processes listed in a cgroup.procs file, summed."""
    try:
        with open(procs_file, "rb") as f:
            pids = f.read().split()
    except OSError:
        return 0
    pages = 0
    for pid in pids:
        try:
            fd = os.open(b"/proc/" + pid + b"/statm", os.O_RDONLY | os.O_CLOEXEC)
            try:
                pages += int(os.read(fd, 128).split()[1])
            finally:
                os.close(fd)
        except (OSError, ValueError, IndexError):
            pass  # exited meanwhile
    return pages * _PAGE

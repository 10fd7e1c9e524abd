"""No usable cgroup: environments run without group limits (rlimits stand in; see rlimits)."""

from __future__ import annotations

import os

from firebox.sandboxes.cgroups.base import PIDS_MAX, EnvironmentCgroup


class NoCgroup:
    """An environment with no group: nothing to write, nothing to count."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.memory_mb = 0

    @property
    def procs_files(self) -> list[str]:
        return []

    @property
    def counter_files(self) -> tuple[str, str]:
        return ("/dev/null", "/dev/null")  # the monitors read nothing: no kills, no hits

    def create(self, memory_mb: int, pids_max: int = PIDS_MAX) -> None:
        self.memory_mb = memory_mb

    def limit_cpu(self, memory_mb: int) -> None:
        pass

    def resize(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb

    def renamed(self, name: str) -> NoCgroup:
        renamed = NoCgroup(name)
        renamed.memory_mb = self.memory_mb
        return renamed

    def max_memory_bytes(self) -> int:
        return 0

    def memory_bytes(self) -> int:
        return 0

    def resident_bytes(self) -> int:
        return 0

    def oom_killed(self) -> bool:
        return False

    def remove(self) -> bool:
        return True


class NoTree:
    """The tree of a server that has no cgroup it may use."""

    version = "none"

    def __init__(self, why: str) -> None:
        self.where = why

    def group(self, name: str) -> EnvironmentCgroup:
        return NoCgroup(name)

    def release(self, cgroup: EnvironmentCgroup) -> None:
        pass

    def sweep(self) -> None:
        pass

    def close(self) -> None:
        pass


def tree_peak_kb(root: int) -> int:
    """Without a group to ask: the peak resident sets (VmHWM) of a process and its
    descendants, summed (the runtime's dominates; the sandbox's own init and monitor are
    small). Walked through /proc/<pid>/task/<tid>/children."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        total += int(line.split()[1])
                        break
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo.extend(int(child) for child in f.read().split())
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total

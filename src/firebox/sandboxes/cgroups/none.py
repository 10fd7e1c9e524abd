"""No usable cgroup: environments run without group limits (rlimits stand in; see rlimits)."""

from __future__ import annotations

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

"""Per-environment cgroups (v1 hierarchies): memory, CPU in proportion to memory, pids."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "pids")
FULL_CORE_MB = 1769  # Lambda: 1,769 MB of memory buys one full vCPU
CFS_PERIOD_US = 100_000


def available(root: Path = ROOT) -> list[str]:
    """The v1 controllers this host has that firebox needs but cannot use (empty = all fine)."""
    return [c for c in CONTROLLERS if not (root / c / "cgroup.procs").exists()]


@dataclass
class EnvironmentCgroup:
    """One environment's group in each controller; every method tolerates a missing group."""

    name: str
    instance: str  # one parent group per server (data dir), so servers never touch each other's
    root: Path = ROOT

    def path(self, controller: str) -> Path:
        return self.root / controller / "firebox" / self.instance / self.name

    @property
    def procs_files(self) -> list[str]:
        return [str(self.path(c) / "cgroup.procs") for c in CONTROLLERS]

    def create(self, memory_mb: int, pids_max: int = 1024) -> None:
        for controller in CONTROLLERS:
            self.path(controller).mkdir(parents=True, exist_ok=True)
        memory = self.path("memory")
        limit = str(memory_mb * 1024 * 1024)
        _write(memory / "memory.limit_in_bytes", limit)
        _write(memory / "memory.memsw.limit_in_bytes", limit, optional=True)  # no swap either
        cpu = self.path("cpu")
        # Init runs unthrottled (Lambda boosts CPU during init too); limit_cpu() follows it.
        _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", "-1")
        _write(cpu / "cpu.shares", str(max(2, 1024 * memory_mb // FULL_CORE_MB)))
        _write(self.path("pids") / "pids.max", str(pids_max))

    def limit_cpu(self, memory_mb: int) -> None:
        """CPU in proportion to memory: 1,769 MB buys one full core, 128 MB about 7 %."""
        quota = max(1000, CFS_PERIOD_US * memory_mb // FULL_CORE_MB)
        _write(self.path("cpu") / "cpu.cfs_quota_us", str(quota), optional=True)

    def resize(self, memory_mb: int) -> None:
        """Memory limit and CPU weight for a new MemorySize (the quota follows after init)."""
        self.set_memory(memory_mb)
        _write(self.path("cpu") / "cpu.shares", str(max(2, 1024 * memory_mb // FULL_CORE_MB)))

    def set_memory(self, memory_mb: int) -> None:
        limit = str(memory_mb * 1024 * 1024)
        # Raising: memsw first (it must stay >= the limit); lowering: the limit first.
        order = ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes")
        current = _read_int(self.path("memory") / "memory.limit_in_bytes")
        for name in order if memory_mb * 1024 * 1024 > current else reversed(order):
            _write(self.path("memory") / name, limit, optional=name.startswith("memory.memsw"))

    def renamed(self, name: str) -> EnvironmentCgroup:
        """The same groups under another name (v1 allows renaming within a parent)."""
        renamed = EnvironmentCgroup(name, self.instance, self.root)
        for controller in CONTROLLERS:
            os.rename(self.path(controller), renamed.path(controller))
        return renamed

    def max_memory_bytes(self) -> int:
        return _read_int(self.path("memory") / "memory.max_usage_in_bytes")

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has killed anything in the group."""
        try:
            text = (self.path("memory") / "memory.oom_control").read_text()
        except OSError:
            return False
        counts = dict(line.split() for line in text.splitlines() if line.strip())
        return int(counts.get("oom_kill", "0")) > 0

    def remove(self) -> bool:
        """Removes the groups; False while a process still lingers in one."""
        done = True
        for controller in CONTROLLERS:
            try:
                os.rmdir(self.path(controller))
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


def _write(path: Path, value: str, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except OSError:
        if not optional:
            raise


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0

"""cgroup v1: a group per environment in each of the memory, cpu and pids hierarchies."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from firebox.sandboxes.cgroups.base import (
    FULL_CORE_MB,
    PIDS_MAX,
    EnvironmentCgroup,
    Lingering,
    cpu_quota_us,
    read_counter,
    read_int,
    read_text,
    resident_bytes,
    write,
)

log = logging.getLogger("firebox.cgroups")

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "pids")


def missing(root: Path = ROOT) -> list[str]:
    """The v1 controllers firebox needs that this host does not mount (empty = all there)."""
    return [c for c in CONTROLLERS if not (root / c / "cgroup.procs").exists()]


def usable(root: Path = ROOT) -> bool:
    """Whether this process can make groups in every v1 hierarchy firebox needs."""
    return not missing(root) and all(os.access(root / c, os.W_OK) for c in CONTROLLERS)


def _shares(memory_mb: int) -> str:
    return str(max(2, 1024 * memory_mb // FULL_CORE_MB))


class V1Cgroup:
    """One environment's group in each controller."""

    def __init__(self, name: str, instance: str, root: Path = ROOT, memory_mb: int = 0) -> None:
        self.name = name
        self.instance = instance  # one parent group per server (data dir)
        self.root = root
        self.memory_mb = memory_mb
        base = f"firebox/{instance}/{name}"
        self._paths: dict[str, str] = {c: f"{root}/{c}/{base}" for c in CONTROLLERS}

    def path(self, controller: str) -> Path:
        return Path(self._paths[controller])

    @property
    def procs_files(self) -> list[str]:
        return [f"{path}/cgroup.procs" for path in self._paths.values()]

    @property
    def counter_files(self) -> tuple[str, str]:
        memory = self._paths["memory"]
        return (f"{memory}/memory.oom_control", f"{memory}/memory.failcnt")

    def create(self, memory_mb: int, pids_max: int = PIDS_MAX) -> None:
        self.memory_mb = memory_mb
        for path in self._paths.values():
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except FileNotFoundError:  # the server's parent group, made by the first one
                os.makedirs(path, exist_ok=True)
        memory = self._paths["memory"]
        limit = str(memory_mb * 1024 * 1024)
        write(f"{memory}/memory.limit_in_bytes", limit)
        write(f"{memory}/memory.memsw.limit_in_bytes", limit, optional=True)  # no swap either
        # A new group starts with no quota over a 100 ms period: nothing to write until
        # limit_cpu(), after init.
        write(f"{self._paths['cpu']}/cpu.shares", _shares(memory_mb))
        write(f"{self._paths['pids']}/pids.max", str(pids_max))

    def limit_cpu(self, memory_mb: int) -> None:
        write(f"{self._paths['cpu']}/cpu.cfs_quota_us", str(cpu_quota_us(memory_mb)), True)

    def resize(self, memory_mb: int) -> None:
        if memory_mb == self.memory_mb:
            return  # e.g. a pre-built sandbox (128 MB) taken by a 128 MB function
        self.memory_mb = memory_mb
        limit = str(memory_mb * 1024 * 1024)
        memory = self._paths["memory"]
        # Raising: memsw first (it must stay >= the limit); lowering: the limit first.
        order = ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes")
        current = read_int(f"{memory}/memory.limit_in_bytes")
        for name in order if memory_mb * 1024 * 1024 > current else reversed(order):
            write(f"{memory}/{name}", limit, optional=name.startswith("memory.memsw"))
        write(f"{self._paths['cpu']}/cpu.shares", _shares(memory_mb))

    def renamed(self, name: str) -> V1Cgroup:
        """The same groups under another name (renaming within a parent)."""
        renamed = V1Cgroup(name, self.instance, self.root, self.memory_mb)
        for controller in CONTROLLERS:
            os.rename(self._paths[controller], renamed._paths[controller])
        return renamed

    def max_memory_bytes(self) -> int:
        return read_int(f"{self._paths['memory']}/memory.max_usage_in_bytes")

    def memory_bytes(self) -> int:
        return read_int(f"{self._paths['memory']}/memory.usage_in_bytes")

    def resident_bytes(self) -> int:
        return resident_bytes(f"{self._paths['memory']}/cgroup.procs")

    def oom_killed(self) -> bool:
        return read_counter(read_text(self.counter_files[0]), "oom_kill") > 0

    def remove(self) -> bool:
        done = True
        for path in self._paths.values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


class V1Tree(Lingering):
    """One server's parent groups in the v1 hierarchies."""

    version = "cgroup v1"

    def __init__(self, instance: str, root: Path = ROOT) -> None:
        super().__init__()
        self.instance = instance
        self.root = root
        self.where = f"{root}/{{{','.join(CONTROLLERS)}}}/firebox/{instance}"

    def group(self, name: str) -> EnvironmentCgroup:
        return V1Cgroup(name, self.instance, self.root)

    def _parents(self) -> list[Path]:
        return [self.root / controller / "firebox" for controller in CONTROLLERS]

    def sweep(self) -> None:
        """Kills and removes environments a previous server with this data dir left behind,
        and removes empty groups any dead server left (rmdir only: that never kills)."""
        for parent in self._parents():
            if not parent.is_dir():
                continue
            for instance in parent.iterdir():
                if instance.name == self.instance or not instance.is_dir():
                    continue
                for group in instance.iterdir():
                    if group.is_dir():
                        with contextlib.suppress(OSError):
                            group.rmdir()
                with contextlib.suppress(OSError):
                    instance.rmdir()
            own = parent / self.instance
            if not own.is_dir():
                continue
            for group in own.iterdir():
                if not group.is_dir():
                    continue
                try:
                    for pid in (group / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                try:
                    group.rmdir()
                except OSError:
                    log.warning("could not remove leftover cgroup %s", group)

    def close(self) -> None:
        """Removes this server's (by now empty) parent groups."""
        for parent in self._parents():
            with contextlib.suppress(OSError):
                (parent / self.instance).rmdir()

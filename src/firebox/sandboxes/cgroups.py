"""Per-environment cgroups (v1 hierarchies): memory, CPU in proportion to memory, pids."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("firebox.cgroups")

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "pids")
FULL_CORE_MB = 1769  # Lambda: 1,769 MB of memory buys one full vCPU
_PAGE = os.sysconf("SC_PAGE_SIZE")
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
    memory_mb: int = 0  # the MemorySize its limits were last set for (0: not yet)

    def __post_init__(self) -> None:
        # Plain strings, worked out once: these paths are used on every cold start, where
        # pathlib's joins and text-mode file objects cost more than the sysfs calls themselves.
        base = f"firebox/{self.instance}/{self.name}"
        self._paths: dict[str, str] = {c: f"{self.root}/{c}/{base}" for c in CONTROLLERS}

    def path(self, controller: str) -> Path:
        return Path(self._paths[controller])

    @property
    def procs_files(self) -> list[str]:
        return [f"{path}/cgroup.procs" for path in self._paths.values()]

    def create(self, memory_mb: int, pids_max: int = 1024) -> None:
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
        _write(f"{memory}/memory.limit_in_bytes", limit)
        _write(f"{memory}/memory.memsw.limit_in_bytes", limit, optional=True)  # no swap either
        # Init runs unthrottled (Lambda boosts CPU during init too); limit_cpu() follows it. A
        # new group starts with no quota over a 100 ms period (CFS_PERIOD_US): nothing to write.
        _write(f"{self._paths['cpu']}/cpu.shares", str(max(2, 1024 * memory_mb // FULL_CORE_MB)))
        _write(f"{self._paths['pids']}/pids.max", str(pids_max))

    def limit_cpu(self, memory_mb: int) -> None:
        """CPU in proportion to memory: 1,769 MB buys one full core, 128 MB about 7 %."""
        quota = max(1000, CFS_PERIOD_US * memory_mb // FULL_CORE_MB)
        _write(f"{self._paths['cpu']}/cpu.cfs_quota_us", str(quota), optional=True)

    def resize(self, memory_mb: int) -> None:
        """Memory limit and CPU weight for a new MemorySize (the quota follows after init)."""
        if memory_mb == self.memory_mb:
            return  # e.g. a pre-built sandbox (128 MB) taken by a 128 MB function: four writes less
        self.memory_mb = memory_mb
        self.set_memory(memory_mb)
        _write(f"{self._paths['cpu']}/cpu.shares", str(max(2, 1024 * memory_mb // FULL_CORE_MB)))

    def set_memory(self, memory_mb: int) -> None:
        limit = str(memory_mb * 1024 * 1024)
        memory = self._paths["memory"]
        # Raising: memsw first (it must stay >= the limit); lowering: the limit first.
        order = ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes")
        current = _read_int(f"{memory}/memory.limit_in_bytes")
        for name in order if memory_mb * 1024 * 1024 > current else reversed(order):
            _write(f"{memory}/{name}", limit, optional=name.startswith("memory.memsw"))

    def renamed(self, name: str) -> EnvironmentCgroup:
        """The same groups under another name (v1 allows renaming within a parent)."""
        renamed = EnvironmentCgroup(name, self.instance, self.root, self.memory_mb)
        for controller in CONTROLLERS:
            os.rename(self._paths[controller], renamed._paths[controller])
        return renamed

    def max_memory_bytes(self) -> int:
        return _read_int(f"{self._paths['memory']}/memory.max_usage_in_bytes")

    def memory_bytes(self) -> int:
        """What the group's processes hold now (pages they wrote, their /tmp, page tables)."""
        return _read_int(f"{self._paths['memory']}/memory.usage_in_bytes")

    def resident_bytes(self) -> int:
        """The resident sets of the group's processes, summed: every page they map, those
        charged to other groups too (shared with the zygote they were forked from, or file
        pages another environment read first)."""
        try:
            with open(f"{self._paths['memory']}/cgroup.procs", "rb") as f:
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
        for path in self._paths.values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


def favor_migrations(mounts: Path = Path("/proc/mounts")) -> bool:
    """Sets the kernel's `favordynmods` cgroup option (Linux 6.0+); whether it is on.

    Every environment's processes are moved into its cgroups (v1 has no CLONE_INTO_CGROUP),
    and by default each move that follows a quiet moment waits for an RCU grace period:
    5-18 ms on a 2-core VM, more than the rest of a cold start. With the option, moves do not
    wait, and forks and exits cost a little more: the trade the kernel documents for hosts
    that change cgroups often. The option belongs to the cgroup2 root but governs the lock
    every hierarchy shares, so it is set on a cgroup2 mount (remounted, or mounted under
    /run/firebox if the host has none). It stays set after firebox exits.
    """
    try:
        unified, options = None, ""
        with open(mounts) as f:
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[2] == "cgroup2":
                    if "favordynmods" in fields[3].split(","):
                        return True
                    unified, options = fields[1], fields[3]
        if unified is None:
            unified = "/run/firebox/cgroup2"
            os.makedirs(unified, exist_ok=True)
            argv = ["mount", "-t", "cgroup2", "-o", "favordynmods", "cgroup2", unified]
        else:  # the mount's own options kept: a remount applies exactly the ones it is given
            argv = ["mount", "-o", f"remount,{options},favordynmods", unified]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        log.info("cgroup migrations wait for RCU grace periods (no favordynmods: %s)", exc)
        return False
    if result.returncode != 0:
        log.info("cgroup migrations wait for RCU grace periods (no favordynmods: %s)",
                 result.stderr.strip())  # fmt: skip
        return False
    log.info("set the cgroup2 option favordynmods on %s (cgroup migrations skip RCU waits)",
             unified)  # fmt: skip
    return True


def _write(path: str, value: str, optional: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError:
        if not optional:
            raise


def _read_int(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return int(os.read(fd, 64))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return 0


class ServerGroups:
    """One server's parent groups: sweeping a crashed predecessor's, removal retries, tidying."""

    def __init__(self, instance: str, root: Path = ROOT) -> None:
        self.instance = instance
        self.root = root
        self._lingering: list[EnvironmentCgroup] = []

    def _parents(self) -> list[Path]:
        return [self.root / controller / "firebox" for controller in CONTROLLERS]

    def release(self, cgroup: EnvironmentCgroup) -> None:
        """Removes a dead environment's cgroup, retrying while its last processes exit."""
        if cgroup.remove():
            return
        self._lingering.append(cgroup)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(0.2, self._retry)

    def _retry(self) -> None:
        lingering, self._lingering = self._lingering, []
        for cgroup in lingering:
            self.release(cgroup)

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

"""cgroup v2: one group per environment in the unified hierarchy, under firebox's own subtree.

The subtree is the cgroup firebox was delegated (a systemd unit or user scope with
`Delegate=yes`, or a container's own cgroup namespace), or, for root on a host whose
cgroup firebox was not delegated, a `firebox` group at the top of the hierarchy. A non-root
group with controllers enabled for its children may hold no processes itself (the "no
internal processes" rule), so firebox first moves its own processes into a leaf beside the
environments' groups.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from pathlib import Path

from firebox.sandboxes.cgroups.base import (
    CFS_PERIOD_US,
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

CONTROLLERS = ("memory", "cpu", "pids")
ENABLE = " ".join(f"+{c}" for c in CONTROLLERS)
SERVER_LEAF = "firebox-server"  # where firebox's own processes go in a delegated group


def _weight(memory_mb: int) -> str:
    # v1's cpu.shares 1024 is v2's cpu.weight 100: the same proportion to memory as on v1.
    return str(min(10_000, max(1, 100 * memory_mb // FULL_CORE_MB)))


class V2Cgroup:
    """One environment's group: memory.max, cpu.weight then cpu.max, pids.max."""

    def __init__(self, name: str, tree: V2Tree, memory_mb: int = 0) -> None:
        self.name = name
        self.tree = tree
        self.memory_mb = memory_mb
        self.dir = f"{tree.instance_dir}/{name}"

    @property
    def procs_files(self) -> list[str]:
        return [f"{self.dir}/cgroup.procs"]

    @property
    def counter_files(self) -> tuple[str, str]:
        # memory.events: "oom_kill N" counts kills, "max N" the times the limit was hit
        # (v1's memory.oom_control and memory.failcnt).
        return (f"{self.dir}/memory.events", f"{self.dir}/memory.events")

    def create(self, memory_mb: int, pids_max: int = PIDS_MAX) -> None:
        self.tree.prepare()
        self.memory_mb = memory_mb
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.dir)
        write(f"{self.dir}/memory.max", str(memory_mb * 1024 * 1024))
        write(f"{self.dir}/memory.swap.max", "0", optional=True)  # no swap either
        write(f"{self.dir}/cpu.weight", _weight(memory_mb))
        write(f"{self.dir}/pids.max", str(pids_max))

    def limit_cpu(self, memory_mb: int) -> None:
        write(f"{self.dir}/cpu.max", f"{cpu_quota_us(memory_mb)} {CFS_PERIOD_US}", optional=True)

    def resize(self, memory_mb: int) -> None:
        if memory_mb == self.memory_mb:
            return
        self.memory_mb = memory_mb
        write(f"{self.dir}/memory.max", str(memory_mb * 1024 * 1024))
        write(f"{self.dir}/cpu.weight", _weight(memory_mb))

    def renamed(self, name: str) -> V2Cgroup:
        renamed = V2Cgroup(name, self.tree, self.memory_mb)
        os.rename(self.dir, renamed.dir)
        return renamed

    def max_memory_bytes(self) -> int:
        # memory.peak exists from Linux 5.19; before that the current charge is the best there is.
        peak = read_int(f"{self.dir}/memory.peak")
        return peak or self.memory_bytes()

    def memory_bytes(self) -> int:
        return read_int(f"{self.dir}/memory.current")

    def resident_bytes(self) -> int:
        return resident_bytes(f"{self.dir}/cgroup.procs")

    def oom_killed(self) -> bool:
        return read_counter(read_text(f"{self.dir}/memory.events"), "oom_kill") > 0

    def remove(self) -> bool:
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True


class V2Tree(Lingering):
    """One server's groups under `base`: base/firebox/<instance>/<environment>."""

    version = "cgroup v2"

    def __init__(self, instance: str, base: Path, needs_leaf: bool) -> None:
        super().__init__()
        self.instance = instance
        self.base = base
        self.needs_leaf = needs_leaf  # base is not the hierarchy's root: keep it process-free
        self.parent_dir = f"{base}/firebox"
        self.instance_dir = f"{self.parent_dir}/{instance}"
        self.where = self.instance_dir
        self._prepared = False
        self._lock = threading.Lock()  # the probe's sandbox and the server's may race here

    def group(self, name: str) -> EnvironmentCgroup:
        return V2Cgroup(name, self)

    def prepare(self) -> None:
        """Makes the subtree and enables the controllers down to the environments' parent."""
        if self._prepared:
            return
        with self._lock:
            if self._prepared:
                return
            if self.needs_leaf:
                self._leave_base()
            _enable(str(self.base))
            for path in (self.parent_dir, self.instance_dir):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path)
                _enable(path)
            self._prepared = True

    def _leave_base(self) -> None:
        """Moves every process of the base group (firebox's own) into a leaf beside the
        environments: controllers cannot be enabled for a group's children while it holds
        processes itself."""
        pids = read_text(f"{self.base}/cgroup.procs").split()
        if not pids:
            return
        leaf = f"{self.base}/{SERVER_LEAF}"
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf)
        for pid in pids:
            try:
                write(f"{leaf}/cgroup.procs", pid)
            except OSError as exc:  # exited meanwhile, or a kernel thread
                log.debug("could not move %s into %s: %s", pid, leaf, exc)
        log.info("moved firebox's own processes into %s (cgroup v2 allows no processes in a "
                 "group whose controllers are enabled for its children)", leaf)  # fmt: skip

    def sweep(self) -> None:
        parent = Path(self.parent_dir)
        if not parent.is_dir():
            return
        for instance in parent.iterdir():
            if not instance.is_dir():
                continue
            own = instance.name == self.instance
            for group in instance.iterdir():
                if not group.is_dir():
                    continue
                if own:  # a crashed predecessor with this data dir: its environments go
                    _kill_all(group)
                try:
                    group.rmdir()
                except OSError:
                    if own:
                        log.warning("could not remove leftover cgroup %s", group)
            if not own:
                with contextlib.suppress(OSError):
                    instance.rmdir()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(self.instance_dir)


def _enable(path: str) -> None:
    """Enables memory, cpu and pids for the children of the group at `path`."""
    wanted = set(CONTROLLERS)
    if wanted <= set(read_text(f"{path}/cgroup.subtree_control").split()):
        return
    write(f"{path}/cgroup.subtree_control", ENABLE)


def _kill_all(group: Path) -> None:
    """Kills every process in a group: cgroup.kill (Linux 5.14+), else one by one."""
    if (group / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (group / "cgroup.kill").write_text("1")
            return
    try:
        for pid in (group / "cgroup.procs").read_text().split():
            os.kill(int(pid), signal.SIGKILL)
    except (OSError, ValueError):
        pass

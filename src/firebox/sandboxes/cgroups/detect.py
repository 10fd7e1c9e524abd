"""Which cgroup hierarchy firebox can use on this host, and where (read-only: changes nothing)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from firebox.sandboxes.cgroups import v1, v2
from firebox.sandboxes.cgroups.base import CgroupTree
from firebox.sandboxes.cgroups.none import NoTree

DELEGATE_ADVICE = (
    "run firebox in a delegated cgroup v2: `systemd-run --user --scope -p Delegate=yes "
    "firebox serve` (or Delegate=yes in its systemd unit; see docs/security.md)"
)


@dataclass(frozen=True)
class CgroupSupport:
    """The hierarchy to use ("cgroup v2", "cgroup v1" or "none"), where, and why."""

    version: str
    detail: str  # where the groups go, or why there are none
    base: Path | None = None  # v2: the group firebox's subtree goes under
    needs_leaf: bool = False  # v2: base is not the root, its processes move to a leaf
    advice: str = ""  # what to do when there is none

    def tree(self, instance: str) -> CgroupTree:
        if self.version == "cgroup v2" and self.base is not None:
            return v2.V2Tree(instance, self.base, self.needs_leaf)
        if self.version == "cgroup v1":
            return v1.V1Tree(instance)
        return NoTree(self.detail)


def detect(
    mounts: Path = Path("/proc/self/mounts"),
    own_cgroup: Path = Path("/proc/self/cgroup"),
    euid: int | None = None,
    v1_root: Path = v1.ROOT,
) -> CgroupSupport:
    """Prefers cgroup v2 with memory, cpu and pids; then the v1 hierarchies (root only)."""
    euid = os.geteuid() if euid is None else euid
    why_not: list[str] = []
    unified = _unified_mount(mounts)
    if unified is not None:
        found = _v2(unified, _own_path(own_cgroup), euid)
        if isinstance(found, CgroupSupport):
            return found
        why_not.append(found)
    else:
        why_not.append("no cgroup v2 hierarchy is mounted")
    if euid == 0 and not v1.missing(v1_root):
        return CgroupSupport("cgroup v1", f"{v1_root}/{{memory,cpu,pids}}/firebox")
    if v1.missing(v1_root) != list(v1.CONTROLLERS):
        lacking = ", ".join(v1.missing(v1_root))
        why_not.append("the cgroup v1 hierarchies need root" if euid != 0
                       else f"cgroup v1 controllers missing: {lacking}")  # fmt: skip
    return CgroupSupport("none", "; ".join(why_not), advice=DELEGATE_ADVICE)


def _unified_mount(mounts: Path) -> Path | None:
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[2] == "cgroup2":
            return Path(fields[1])
    return None


def _own_path(own_cgroup: Path) -> str:
    """This process's group in the unified hierarchy ("0::/path")."""
    try:
        for line in own_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip() or "/"
    except OSError:
        pass
    return "/"


def _controllers(group: Path) -> set[str]:
    try:
        return set((group / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def _delegated(group: Path, euid: int) -> bool:
    """Whether the group was handed to this process: systemd marks a delegated unit with the
    `trusted.delegate` (system) or `user.delegate` (user manager) attribute; without one, a
    group a non-root process may write to was delegated by whoever set it up."""
    for name in ("trusted.delegate", "user.delegate"):
        try:
            if os.getxattr(group, name) in (b"1", b"1\n"):
                return True
        except OSError:
            pass
    writable = all(
        os.access(p, os.W_OK)
        for p in (group, group / "cgroup.procs", group / "cgroup.subtree_control")
    )
    return writable and euid != 0


def _v2(unified: Path, own: str, euid: int) -> CgroupSupport | str:
    """Where firebox's subtree can go in the unified hierarchy, or why nowhere."""
    need = set(v2.CONTROLLERS)
    group = unified / own.lstrip("/")
    if own != "/" and _delegated(group, euid):
        if need <= _controllers(group):
            return CgroupSupport("cgroup v2", f"{group}/firebox (delegated)", group,
                                 needs_leaf=True)  # fmt: skip
        missing = sorted(need - _controllers(group))
        return f"the delegated cgroup {group} lacks the {', '.join(missing)} controller(s)"
    if own == "/" and (euid == 0 or _delegated(group, euid)):
        # The hierarchy's root, or a container's own cgroup namespace (then not the host's
        # root: a non-root group has a cgroup.type file and must hold no processes).
        if need <= _controllers(unified):
            return CgroupSupport("cgroup v2", f"{unified}/firebox", unified,
                                 needs_leaf=(unified / "cgroup.type").exists())  # fmt: skip
        return _lacking(unified, need)
    if euid == 0:
        if need <= _controllers(unified):
            return CgroupSupport("cgroup v2", f"{unified}/firebox", unified)
        return _lacking(unified, need)
    return f"firebox's cgroup {own} is not delegated to it"


def _lacking(unified: Path, need: set[str]) -> str:
    missing = sorted(need - _controllers(unified))
    return f"the cgroup v2 hierarchy at {unified} has no {', '.join(missing)} controller(s)"

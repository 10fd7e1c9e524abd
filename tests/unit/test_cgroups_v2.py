"""The cgroup v2 backend and the choice of hierarchy, against directories laid out like the
kernel's: this CI host mounts the v1 controllers, so the unified hierarchy here has none and
cannot be changed without disturbing the host. Every file the backend writes and reads is
checked; `test_real_cgroup2` below runs the same backend on a real kernel where one allows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from firebox.sandboxes.cgroups import detect
from firebox.sandboxes.cgroups.base import read_counter
from firebox.sandboxes.cgroups.v2 import SERVER_LEAF, V2Cgroup, V2Tree

EVENTS = "low 0\nhigh 0\nmax {hits}\noom {oom}\noom_kill {kills}\noom_group_kill 0\n"


def fake_group(path: Path, controllers: str = "cpuset cpu io memory hugetlb pids rdma misc",
               procs: str = "", root: bool = False) -> Path:  # fmt: skip
    """A directory with the files the kernel puts in a cgroup2 group."""
    path.mkdir(parents=True, exist_ok=True)
    files = {
        "cgroup.controllers": controllers + "\n",
        "cgroup.subtree_control": "\n",
        "cgroup.procs": procs,
        "memory.events": EVENTS.format(hits=0, oom=0, kills=0),
        "memory.current": "0\n",
        "memory.peak": "0\n",
        "memory.max": "max\n",
        "memory.swap.max": "max\n",
        "cpu.weight": "100\n",
        "cpu.max": "max 100000\n",
        "pids.max": "max\n",
    }
    if not root:
        files["cgroup.type"] = "domain\n"
    for name, text in files.items():
        (path / name).write_text(text)
    return path


class FakeKernel:
    """Plays the kernel's part: a mkdir in the fake hierarchy gets a group's files."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_mkdir = os.mkdir

        def mkdir(path: str | os.PathLike[str], mode: int = 0o777) -> None:
            real_mkdir(path, mode)
            fake_group(Path(path))

        monkeypatch.setattr(os, "mkdir", mkdir)


def test_an_environment_group_gets_its_limits_and_reports_its_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeKernel(monkeypatch)
    root = fake_group(tmp_path / "cgroup", root=True)
    tree = V2Tree("inst", root, needs_leaf=False)
    cgroup = tree.group("fn.env1")
    assert isinstance(cgroup, V2Cgroup)
    cgroup.create(128)
    group = root / "firebox" / "inst" / "fn.env1"
    # memory, cpu and pids enabled for the children at every level down to the environment
    for level in (root, root / "firebox", root / "firebox" / "inst"):
        assert (level / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (group / "memory.max").read_text() == str(128 << 20)
    assert (group / "memory.swap.max").read_text() == "0"
    assert (group / "cpu.weight").read_text() == str(100 * 128 // 1769)
    assert (group / "pids.max").read_text() == "1024"
    assert (group / "cpu.max").read_text() == "max 100000\n"  # init runs unthrottled
    assert cgroup.procs_files == [f"{group}/cgroup.procs"]
    assert cgroup.counter_files == (f"{group}/memory.events", f"{group}/memory.events")

    cgroup.limit_cpu(128)
    assert (group / "cpu.max").read_text() == f"{100_000 * 128 // 1769} 100000"
    cgroup.resize(2048)
    assert (group / "memory.max").read_text() == str(2048 << 20)
    assert (group / "cpu.weight").read_text() == str(100 * 2048 // 1769)

    (group / "memory.current").write_text("5242880\n")
    (group / "memory.peak").write_text("9437184\n")
    assert cgroup.memory_bytes() == 5 << 20 and cgroup.max_memory_bytes() == 9 << 20
    (group / "memory.peak").unlink()  # before Linux 5.19: the current charge stands in
    assert cgroup.max_memory_bytes() == 5 << 20
    assert not cgroup.oom_killed()
    (group / "memory.events").write_text(EVENTS.format(hits=7, oom=1, kills=1))
    assert cgroup.oom_killed()
    events = (group / "memory.events").read_text()
    assert read_counter(events, "oom_kill") == 1 and read_counter(events, "max") == 7

    renamed = cgroup.renamed("other.env1")
    assert not group.exists() and (root / "firebox" / "inst" / "other.env1").is_dir()
    for name in os.listdir(root / "firebox" / "inst" / "other.env1"):
        os.unlink(root / "firebox" / "inst" / "other.env1" / name)  # the kernel's files
    assert renamed.remove() and renamed.remove()  # twice is harmless


def test_a_delegated_group_moves_firebox_into_a_leaf_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cgroup v2 allows no processes in a group whose controllers are enabled for its
    children: the server's own processes move into a leaf beside the environments."""
    FakeKernel(monkeypatch)
    delegated = fake_group(tmp_path / "user.slice" / "firebox.scope", procs="4242\n4243\n")
    tree = V2Tree("inst", delegated, needs_leaf=True)
    tree.group("e").create(256)
    leaf = delegated / SERVER_LEAF
    # each pid written on its own, as the kernel wants (the fake keeps the last write)
    assert (leaf / "cgroup.procs").read_text() == "4243"
    assert (delegated / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (delegated / "firebox" / "inst" / "e" / "memory.max").read_text() == str(256 << 20)


def test_sweep_removes_what_a_crashed_predecessor_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeKernel(monkeypatch)
    root = fake_group(tmp_path / "cgroup", root=True)
    own = root / "firebox" / "inst"
    other = root / "firebox" / "someone-else"
    for group in (own / "fn.old", other / "empty"):
        group.mkdir(parents=True)
    (own / "fn.old" / "cgroup.kill").write_text("")
    kills: list[str] = []
    real_rmdir = os.rmdir

    def rmdir(path: str | os.PathLike[str]) -> None:  # the kernel removes a group's files
        for name in os.listdir(path):
            os.unlink(Path(path) / name)
        real_rmdir(path)

    monkeypatch.setattr(os, "rmdir", rmdir)
    monkeypatch.setattr(Path, "rmdir", lambda self: rmdir(self))
    real_write = Path.write_text

    def write_text(self: Path, text: str, *args: object, **kwargs: object) -> int:
        if self.name == "cgroup.kill":
            kills.append(str(self.parent.name))
        return real_write(self, text)

    monkeypatch.setattr(Path, "write_text", write_text)
    V2Tree("inst", root, needs_leaf=False).sweep()
    assert kills == ["fn.old"]  # only this data dir's environments are killed
    assert not (own / "fn.old").exists() and not other.exists()


def _layout(tmp_path: Path, own: str, controllers: str = "cpu memory pids") -> tuple[Path, Path]:
    mounts = tmp_path / "mounts"
    unified = tmp_path / "sys-fs-cgroup"
    fake_group(unified, controllers, root=True)
    mounts.write_text(f"cgroup2 {unified} cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n")
    own_file = tmp_path / "self-cgroup"
    own_file.write_text(f"0::{own}\n")
    return mounts, own_file


def test_detect_prefers_a_delegated_v2_group(tmp_path: Path) -> None:
    mounts, own = _layout(tmp_path, "/user.slice/user-1000.slice/firebox.scope")
    fake_group(
        tmp_path / "sys-fs-cgroup/user.slice/user-1000.slice/firebox.scope", "cpu memory pids"
    )
    found = detect(mounts, own, euid=1000, v1_root=tmp_path / "no-v1")
    assert found.version == "cgroup v2" and found.needs_leaf
    assert found.base == tmp_path / "sys-fs-cgroup/user.slice/user-1000.slice/firebox.scope"
    # root may write anywhere: without systemd's delegate mark its own unit is not firebox's
    found = detect(mounts, own, euid=0, v1_root=tmp_path / "no-v1")
    assert found.version == "cgroup v2" and found.base == tmp_path / "sys-fs-cgroup"
    assert not found.needs_leaf


def test_detect_uses_the_top_of_the_hierarchy_as_root(tmp_path: Path) -> None:
    mounts, own = _layout(tmp_path, "/")
    found = detect(mounts, own, euid=0, v1_root=tmp_path / "no-v1")
    assert (found.version, found.base, found.needs_leaf) == (
        "cgroup v2", tmp_path / "sys-fs-cgroup", False)  # fmt: skip
    # in a container's own cgroup namespace "/" is not the host's root: keep it process-free
    (tmp_path / "sys-fs-cgroup" / "cgroup.type").write_text("domain\n")
    assert detect(mounts, own, euid=0, v1_root=tmp_path / "no-v1").needs_leaf


def test_detect_says_why_there_is_no_usable_hierarchy(tmp_path: Path) -> None:
    # a hybrid host like this CI machine: the unified hierarchy holds no controllers
    mounts, own = _layout(tmp_path, "/", controllers="")
    v1_root = tmp_path / "v1"
    for controller in ("memory", "cpu", "pids"):
        fake_group(v1_root / controller, root=True)
    assert detect(mounts, own, euid=0, v1_root=v1_root).version == "cgroup v1"
    found = detect(mounts, own, euid=1000, v1_root=v1_root)
    assert found.version == "none"
    assert "has no cpu, memory, pids controller(s)" in found.detail or "need root" in found.detail
    assert "Delegate=yes" in found.advice
    assert found.tree("inst").group("e").procs_files == []


def _writable_cgroup2() -> Path | None:
    """A real cgroup2 group this process may populate with memory, cpu and pids, if any."""
    found = detect()
    if found.version != "cgroup v2" or found.base is None:
        return None
    return found.base


@pytest.mark.skipif(_writable_cgroup2() is None, reason="no writable cgroup2 with memory, cpu, "
                    "pids on this host (this CI machine mounts the v1 controllers)")  # fmt: skip
def test_real_cgroup2(tmp_path: Path) -> None:
    """On a host whose kernel gives firebox a cgroup2 subtree: the same files, for real."""
    found = detect()
    tree = found.tree(f"test-{os.getpid()}")
    cgroup = tree.group("env1")
    cgroup.create(128)
    try:
        assert Path(cgroup.procs_files[0]).exists()
        assert cgroup.memory_bytes() == 0 and not cgroup.oom_killed()
        cgroup.limit_cpu(128)
        cgroup.resize(256)
    finally:
        assert cgroup.remove()
        tree.close()

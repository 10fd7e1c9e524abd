"""An environment's cgroups on the real v1 hierarchies: the limits a function's MemorySize sets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from firebox.sandboxes.cgroups.v1 import CONTROLLERS, ROOT, V1Cgroup, missing

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing()), reason="needs root and the v1 cgroup controllers"
)


def EnvironmentCgroup(name: str, instance: str) -> V1Cgroup:
    return V1Cgroup(name, instance)


def read(cgroup: V1Cgroup, controller: str, name: str) -> str:
    return (cgroup.path(controller) / name).read_text().strip()


@pytest.fixture
def instance() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    for controller in CONTROLLERS:
        parent = ROOT / controller / "firebox" / name
        for group in parent.glob("*"):
            if group.is_dir():
                group.rmdir()
        if parent.exists():
            parent.rmdir()


def test_limits_follow_memory_size(instance: str) -> None:
    """Memory (and memory+swap) at MemorySize, CPU weight and, after init, a CPU quota in
    proportion to it (1,769 MB = one core), 1,024 tasks; resizing raises and lowers them."""
    cgroup = EnvironmentCgroup("fn.env1", instance)
    cgroup.create(128)
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(128 << 20)
    assert read(cgroup, "cpu", "cpu.shares") == str(1024 * 128 // 1769)
    assert read(cgroup, "cpu", "cpu.cfs_period_us") == "100000"
    assert read(cgroup, "cpu", "cpu.cfs_quota_us") == "-1"  # init runs unthrottled
    assert read(cgroup, "pids", "pids.max") == "1024"
    assert cgroup.procs_files == [str(cgroup.path(c) / "cgroup.procs") for c in CONTROLLERS]
    assert all(Path(procs).exists() for procs in cgroup.procs_files)

    cgroup.limit_cpu(128)
    assert read(cgroup, "cpu", "cpu.cfs_quota_us") == str(100_000 * 128 // 1769)
    cgroup.resize(2048)
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(2048 << 20)
    assert read(cgroup, "cpu", "cpu.shares") == str(1024 * 2048 // 1769)
    cgroup.resize(256)
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(256 << 20)

    renamed = cgroup.renamed("other.env1")
    assert not cgroup.path("memory").exists()
    assert read(renamed, "memory", "memory.limit_in_bytes") == str(256 << 20)
    assert renamed.memory_bytes() == 0 and renamed.max_memory_bytes() == 0
    assert renamed.remove()
    assert not any(renamed.path(c).exists() for c in CONTROLLERS)
    assert renamed.remove()  # a second time is harmless


def test_create_makes_the_server_parent_group(instance: str) -> None:
    """The first environment of a server makes its parent group in every controller."""
    assert not (ROOT / "memory" / "firebox" / instance).exists()
    cgroup = EnvironmentCgroup("env1", instance)
    cgroup.create(512)
    assert read(cgroup, "memory", "memory.limit_in_bytes") == str(512 << 20)
    assert cgroup.remove()

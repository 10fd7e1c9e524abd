"""`firebox doctor` in each mode says, per protection, what enforces it or why it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import FIREBOX, rootless_prefix

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes an unprivileged user")


def doctor(prefix: list[str], command: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, command, "doctor", "--data-dir", str(home / "data")],
                          capture_output=True, text=True, timeout=120, cwd=home)  # fmt: skip


def test_doctor_as_root_names_namespaces_and_cgroups() -> None:
    home = Path(tempfile.mkdtemp(prefix="firebox-doctor-"))
    try:
        result = doctor([], FIREBOX, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sandbox on this host: isolated" in out
    assert "✓ user            a uid of its own (100000+)" in out
    assert "[namespaces (root)]" in out
    assert "✓ cgroups" in out and "[cgroup v1]" in out  # this CI host mounts the v1 controllers


def test_doctor_rootless_reports_the_user_namespace_and_the_cgroup_gap() -> None:
    home = Path(tempfile.mkdtemp(prefix="firebox-doctor-"))
    try:
        result = doctor(rootless_prefix(home), "firebox.cli.main", home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr  # isolated, though without root
    assert "sandbox on this host: isolated" in out
    assert "✓ user            sbx_user1051 (993)" in out and "[user namespace]" in out
    assert "✓ seccomp" in out and "✓ capabilities" in out
    # This host's cgroups need root: the gap is said plainly, with what to do about it.
    assert "✗ cgroups" in out
    assert "→ run firebox in a delegated cgroup v2: `systemd-run --user --scope" in out
    assert "✓ rlimits         RLIMIT_DATA = MemorySize per process" in out
    assert "✓ network" in out

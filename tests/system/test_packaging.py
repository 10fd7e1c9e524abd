"""A wheel built from the repo installs into a fresh virtual environment and runs functions.

Everything is offline: the wheel is built without build isolation (setuptools and wheel come
with the dev tools), and the fresh environment sees firebox's dependencies through a .pth
file naming this environment's site-packages, whose own .pth files (the editable install of
firebox) are not read from there. So the only firebox it can import is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from support import SANDBOX, FireboxServer, create_function, invoke_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.without_root
def test_a_wheel_installs_and_runs_functions(tmp_path: Path) -> None:
    # From a copy without build leftovers: an old build/ or egg-info's SOURCES.txt would put
    # files into the wheel that the package data does not name.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".firebox", "dist"))  # fmt: skip
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(dist), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    wheel = next(dist.glob("firebox-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import firebox; print(firebox.__file__)"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(site), where  # the wheel's copy, not the checkout

    server = FireboxServer(tmp_path / "data")
    server.firebox = str(env_dir / "bin" / "firebox")
    # Its own cache: the helpers are built from the wheel's sources, not found ready-made.
    server.env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    server.start()
    try:
        lam = server.client()
        code = "import sys\ndef handler(event, context):\n    return sys.version_info[0]\n"
        assert invoke_json(lam, create_function(lam, code))[0] == 3
        health = server.health()
        assert health["sandbox"] == SANDBOX
        if os.geteuid() == 0:  # isolated: the reaper and its library were built and used
            assert list((tmp_path / "cache" / "firebox").glob("libfirebox-enter-*.so"))
    finally:
        server.stop()

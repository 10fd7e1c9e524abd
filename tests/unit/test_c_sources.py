"""firebox's C helpers compile cleanly: a failed build is only a warning at run time (the
Python fallbacks take over, slower and larger), so a broken source must fail here instead."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from firebox.sandboxes import reaper

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.mark.parametrize(
    ("sources", "flags"),
    [(reaper.SOURCES, []), (reaper.LIBRARY_SOURCES, ["-shared", "-fPIC"])],
    ids=["firebox-reaper", "libfirebox-enter"],
)
def test_compiles_without_warnings(tmp_path: Path, sources: list[Path], flags: list[str]) -> None:
    result = subprocess.run(
        ["cc", "-O2", "-Wall", "-Werror", *flags, "-o", str(tmp_path / "out"), *map(str, sources)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_build_makes_both(tmp_path: Path) -> None:
    built = reaper.build(tmp_path)
    assert built is not None and built.exists() and reaper.library(built).exists()

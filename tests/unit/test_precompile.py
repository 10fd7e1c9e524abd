"""Background precompiling: a package deleted while it compiles is no failure to report."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from firebox.worker.precompile import Precompiler

# Stand-ins for a function's interpreter. Each fails the way the real compile does when the
# package vanishes under it (a FileNotFoundError on stderr, exit 1): one after deleting the
# package (the race), one with the package still there (a real failure).
VANISHED = """#!/bin/sh
rm -rf "$4"
echo "FileNotFoundError: [Errno 2] No such file or directory: '$4/app.py'" >&2
exit 1
"""
BROKEN = """#!/bin/sh
echo "SyntaxError: invalid syntax" >&2
exit 1
"""


def _interpreter(tmp_path: Path, name: str, script: str) -> str:
    path = tmp_path / name
    path.write_text(script)
    path.chmod(0o755)
    return str(path)


def _compile(tmp_path: Path, interpreter: str) -> tuple[Precompiler, Path]:
    code_root = tmp_path / "code"
    package = code_root / "abc123"
    package.mkdir(parents=True)
    (package / "app.py").write_text("x = 1\n")
    compiler = Precompiler(code_root, lambda _: "/var/task")

    async def go() -> None:
        compiler.want(package, interpreter)
        await asyncio.gather(*compiler._pending.values())

    asyncio.run(go())
    return compiler, package


def test_a_package_deleted_while_it_compiles_logs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "firebox.worker.precompile")
    interpreter = _interpreter(tmp_path, "vanishing-python", VANISHED)
    compiler, package = _compile(tmp_path, interpreter)
    assert not package.exists()
    assert caplog.records == []
    assert not compiler.ready(package, interpreter)


def test_a_compile_that_fails_for_a_package_still_there_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "firebox.worker.precompile")
    interpreter = _interpreter(tmp_path, "broken-python", BROKEN)
    compiler, package = _compile(tmp_path, interpreter)
    assert package.is_dir()
    assert [r.getMessage() for r in caplog.records] == [
        "precompiling abc123 failed: SyntaxError: invalid syntax\n"
    ]
    assert not compiler.ready(package, interpreter)

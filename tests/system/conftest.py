"""Fixtures of the system tier, and the rule that it needs root (helpers: support.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import FireboxServer

HERE = Path(__file__).resolve().parent
NEEDS_ROOT = "system tests run real servers with isolated sandboxes, which need root"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without root, the system tier skips (saying why) rather than test plain processes as
    if they were the product; `without_root` tests run either way."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=NEEDS_ROOT)
    for item in items:
        if item.path.parent == HERE and not item.get_closest_marker("without_root"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [
        r for r in terminalreporter.stats.get("skipped", []) if NEEDS_ROOT in str(r.longrepr)
    ]
    if skipped:
        terminalreporter.write_sep(
            "-", f"{len(skipped)} system tests skipped: not root ({NEEDS_ROOT}); the unit and "
            "integration tiers ran"
        )  # fmt: skip


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., FireboxServer]]:
    """Starts dedicated servers (with their own flags) that are stopped after the test."""
    servers: list[FireboxServer] = []

    def start(*args: str, data_dir: Path | None = None) -> FireboxServer:
        server = FireboxServer(data_dir or tmp_path / f"data-{len(servers)}", *args)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    """One server shared by the tests that need no special settings."""
    srv = FireboxServer(tmp_path_factory.mktemp("shared") / "data", "--init-timeout", "5s")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def lam(server: FireboxServer) -> Any:
    return server.client()

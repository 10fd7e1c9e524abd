"""Fixtures of the unit tier (its helpers are in harness.py: test modules import that, not
this file, whose module name every tier's conftest shares)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import ControlPlane


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    yield ControlPlane(tmp_path)

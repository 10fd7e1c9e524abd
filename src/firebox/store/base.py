"""The function metadata store interface every backend implements."""

from __future__ import annotations

from typing import Protocol

from firebox.models import FunctionRecord


class StoreConflict(Exception):
    """A write lost a race: the name exists already, or the revision moved on."""


class FunctionStore(Protocol):
    """Durable storage of function records; every method is atomic."""

    def create(self, record: FunctionRecord) -> None:
        """Inserts a new function; raises StoreConflict if the name is taken."""

    def get(self, name: str) -> FunctionRecord | None:
        """Returns the function, or None."""

    def list(self, after: str | None, limit: int) -> list[FunctionRecord]:
        """Returns up to limit functions ordered by name, starting after the given name."""

    def replace(self, record: FunctionRecord, expected_revision: str) -> None:
        """Overwrites a function if its stored revision is expected_revision, else StoreConflict."""

    def delete(self, name: str) -> bool:
        """Removes a function; returns whether it existed."""

    def code_in_use(self, sha256: str) -> bool:
        """Tells whether any function still refers to a code package."""

    def total_code_size(self) -> tuple[int, int]:
        """Returns (function count, total zipped code bytes)."""

    def close(self) -> None:
        """Releases the backend's connections."""

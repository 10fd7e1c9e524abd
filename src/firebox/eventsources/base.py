"""What a source is to the poller: batches of records, settled by which ones failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Record:
    """One record as the function's event carries it, and the view filters match against."""

    id: str  # what batchItemFailures' itemIdentifier names
    event: dict[str, Any]
    view: dict[str, Any]  # the record with its body parsed when it is JSON
    size: int  # bytes it adds to the invoke payload


class Source(Protocol):
    """A place records come from (a queue, a stream partition)."""

    async def next_batch(self, size: int, window_s: float, max_bytes: int) -> list[Record]:
        """Up to `size` records (waiting for the first, then up to `window_s` for more, at most
        `max_bytes` in all); [] when nothing came for a while."""

    async def settle(self, done: list[Record], failed: list[Record]) -> None:
        """Done records are removed; failed ones come back later (the source's own retry)."""

    async def release(self, records: list[Record]) -> None:
        """Records not handed to the function (a throttle): available again at once."""

"""Offset pages for listings whose NextToken is the position the next page starts at
(EventBridge's and the Scheduler's)."""

from __future__ import annotations

from typing import Any

from firebox.domain.errors import LambdaError


def offset_page(
    items: list[Any], token: str | None, limit: int | None, key: str, bad_token: LambdaError
) -> dict[str, Any]:
    """`limit` items (100 by default) from the position `token` holds; `bad_token` for a
    token this API did not make."""
    token = token or "0"
    if not token.isdigit():
        raise bad_token
    start, size = int(token), limit or 100
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out

"""Conditional reads (If-Match, If-None-Match, If-(Un)Modified-Since) and byte ranges, as S3
evaluates them."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from firebox.objects.errors import S3Error, precondition_failed
from firebox.objects.records import ObjectRecord


class NotModified(Exception):
    """304: the client's copy is current."""


@dataclass(frozen=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None


def _etags(header: str) -> set[str]:
    return {t.strip().strip('"') for t in header.split(",")}


def _date(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None  # S3 ignores a date it cannot read


def check(obj: ObjectRecord, conditions: Conditions, copy_source: bool = False) -> None:
    """Raises PreconditionFailed (412) or NotModified (304) as RFC 7232 and S3 order them:
    If-Match before If-Unmodified-Since, If-None-Match before If-Modified-Since. For a copy's
    source (x-amz-copy-source-if-*) every failure is a 412."""
    modified = int(obj.modified)  # HTTP dates have whole seconds
    if conditions.if_match is not None:
        wanted = _etags(conditions.if_match)
        if "*" not in wanted and obj.etag not in wanted:
            raise precondition_failed("If-Match")
    else:
        since = _date(conditions.if_unmodified_since)
        if since is not None and modified > since:
            raise precondition_failed("If-Unmodified-Since")
    if conditions.if_none_match is not None:
        wanted = _etags(conditions.if_none_match)
        if "*" in wanted or obj.etag in wanted:
            if copy_source:
                raise precondition_failed("x-amz-copy-source-If-None-Match")
            raise NotModified
    else:
        since = _date(conditions.if_modified_since)
        if since is not None and modified <= since:
            if copy_source:
                raise precondition_failed("x-amz-copy-source-If-Modified-Since")
            raise NotModified


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes a Range header asks for; None for the whole object (no header,
    or one S3 ignores); InvalidRange (416) when it starts past the end."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # S3 serves the whole object for units or multiple ranges it ignores
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_text == "":  # the last N bytes
            count = int(last_text)
            if count == 0 or size == 0:
                raise _invalid(size)
            return max(0, size - count), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise _invalid(size)
    if first > last:
        return None
    return first, min(last, size - 1)


def _invalid(size: int) -> S3Error:
    error = S3Error("InvalidRange", "The requested range is not satisfiable", 416)
    error.actual_size = size  # type: ignore[attr-defined]
    return error

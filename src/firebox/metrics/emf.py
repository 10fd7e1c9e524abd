"""The Embedded Metric Format: a function's log line that is an EMF document becomes metrics,
as CloudWatch Logs extracts them on Lambda. Lines that are not EMF cost one prefix check.

A document over EMF's limits, or with a reserved namespace, is ignored as CloudWatch ignores
an invalid one: its line stays a log line and adds no metrics.
"""

from __future__ import annotations

import json
import math
from typing import Any

from firebox.metrics.series import UNITS, Datum, SeriesKey

MAX_DIRECTIVES = 10
MAX_METRICS = 100  # per directive, as EMF specifies
MAX_DIMENSION_SETS = 30
MAX_DIMENSIONS = 30  # keys per dimension set
MAX_VALUES = 100  # values of one metric in one document
MAX_DATUMS = 3_000  # in all, from one line: more and the document is ignored
RESERVED = ("AWS/", "Firebox/")  # namespaces only the platform writes
LIMIT = 2.0**360  # CloudWatch's range for a value
PAST_S, FUTURE_S = 14 * 86_400, 2 * 3_600  # a timestamp outside: the time it was received


def maybe_emf(text: str) -> bool:
    """Worth parsing: a JSON object that mentions `_aws`."""
    return text.startswith("{") and '"_aws"' in text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a huge JSON integer
        return None
    return number if math.isfinite(number) and abs(number) <= LIMIT else None


def datums(text: str, received_ms: int) -> list[Datum]:
    """The metrics of one EMF document (none when it is not a valid one)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    meta = doc.get("_aws")
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return []
    directives = meta["CloudWatchMetrics"]
    if len(directives) > MAX_DIRECTIVES:
        return []
    received = received_ms / 1000
    stamp = _number(meta.get("Timestamp"))
    at = stamp / 1000 if stamp is not None else received
    if not received - PAST_S <= at <= received + FUTURE_S:
        at = received
    out: list[Datum] = []
    for directive in directives:
        found = _directive(doc, directive, at)
        if found is None or len(out) + len(found) > MAX_DATUMS:
            return []
        out += found
    return out


def _directive(doc: dict[str, Any], directive: Any, at: float) -> list[Datum] | None:
    """A directive's datums; None when it breaks EMF's rules (the document is ignored)."""
    if not isinstance(directive, dict):
        return None
    namespace, metrics = directive.get("Namespace"), directive.get("Metrics")
    if not isinstance(namespace, str) or not namespace or namespace.startswith(RESERVED):
        return None
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        return None
    sets = directive.get("Dimensions", [[]])
    if not isinstance(sets, list) or len(sets) > MAX_DIMENSION_SETS:
        return None
    dimension_sets: list[dict[str, str]] = []
    for names in sets or [[]]:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            return None
        found = {n: doc.get(n) for n in names if isinstance(n, str)}
        if len(found) != len(names) or not all(isinstance(v, str) for v in found.values()):
            return None  # a dimension must name a string member of the document
        dims = {k: str(v) for k, v in found.items()}
        if dims not in dimension_sets:
            dimension_sets.append(dims)
    out: list[Datum] = []
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
            continue
        name = metric["Name"]
        unit = metric.get("Unit", "None")
        unit = unit if unit in UNITS else "None"
        raw = doc.get(name)
        given: list[Any] = raw if isinstance(raw, list) else [raw]
        numbers = [n for v in given[:MAX_VALUES] if (n := _number(v)) is not None]
        if len(out) + len(numbers) * len(dimension_sets) > MAX_DATUMS:
            return None
        for dims in dimension_sets:
            key = SeriesKey.of(namespace, name, dims)
            out.extend(Datum(key, value, unit, at, 1, True) for value in numbers)
    return out

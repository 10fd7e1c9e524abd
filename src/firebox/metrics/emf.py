"""The Embedded Metric Format: a function's log line that is an EMF document becomes metrics,
as CloudWatch Logs extracts them on Lambda. Lines that are not EMF cost one prefix check."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from firebox.metrics.series import UNITS, Datum, SeriesKey

MAX_VALUES = 100  # values of one metric in one document
MAX_DIMENSIONS = 30


def maybe_emf(text: str) -> bool:
    """Worth parsing: a JSON object that mentions `_aws`."""
    return text.startswith("{") and '"_aws"' in text


def datums(text: str, received_ms: int) -> Iterator[Datum]:
    """The metrics of one EMF document (none when it is not a valid one, as CloudWatch
    ignores an invalid document's metrics and keeps the line as a log event)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return
    if not isinstance(doc, dict):
        return
    meta = doc.get("_aws")
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        return
    stamp = meta.get("Timestamp")
    at = stamp / 1000 if isinstance(stamp, int | float) and stamp > 0 else received_ms / 1000
    for directive in meta["CloudWatchMetrics"]:
        yield from _directive(doc, directive, at)


def _directive(doc: dict[str, Any], directive: Any, at: float) -> Iterator[Datum]:
    if not isinstance(directive, dict):
        return
    namespace, metrics = directive.get("Namespace"), directive.get("Metrics")
    if not isinstance(namespace, str) or not namespace or not isinstance(metrics, list):
        return
    sets = directive.get("Dimensions", [[]])
    if not isinstance(sets, list):
        return
    dimension_sets: list[dict[str, str]] = []
    for names in sets or [[]]:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            return
        found = {n: doc.get(n) for n in names if isinstance(n, str)}
        if len(found) != len(names) or not all(isinstance(v, str) for v in found.values()):
            return  # a dimension must name a string member of the document
        dimension_sets.append({k: str(v) for k, v in found.items()})
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
            continue
        name = metric["Name"]
        unit = metric.get("Unit", "None")
        unit = unit if unit in UNITS else "None"
        raw = doc.get(name)
        given: list[Any] = raw if isinstance(raw, list) else [raw]
        numbers = [float(v) for v in given[:MAX_VALUES]
                   if isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v)]  # fmt: skip
        for dims in dimension_sets:
            key = SeriesKey.of(namespace, name, dims)
            for value in numbers:
                yield Datum(key, value, unit, at, 1, True)

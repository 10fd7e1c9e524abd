"""The log stream names and START/END/REPORT lines Lambda writes, in CloudWatch's format."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping

from firebox.domain.records import utc_stamp


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def new_log_stream(version: str, now: float | None = None) -> str:
    """A stream per environment: YYYY/MM/DD/[$LATEST]<32 hex>."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_metrics(
    duration_ms: float, memory_size: int, max_memory_mb: int, init_duration_ms: float | None
) -> dict[str, float]:
    """REPORT's numbers as the JSON log format and the Telemetry API write them."""
    metrics: dict[str, float] = {
        "durationMs": round(duration_ms, 3), "billedDurationMs": max(1, math.ceil(duration_ms)),
        "memorySizeMB": memory_size, "maxMemoryUsedMB": max_memory_mb,
    }  # fmt: skip
    if init_duration_ms is not None:
        metrics["initDurationMs"] = round(init_duration_ms, 3)
    return metrics


def platform_json(kind: str, record: Mapping[str, object], at_s: float | None = None) -> str:
    """A platform line in the JSON log format: {"time", "type", "record"}."""
    return json.dumps({"time": utc_stamp(at_s), "type": kind, "record": record},
                      separators=(",", ":"))  # fmt: skip


def report_line(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_duration_ms: float | None,
) -> str:
    """The REPORT line; billed duration rounds up to 1 ms like Lambda's."""
    billed = max(1, math.ceil(duration_ms))
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {max_memory_mb} MB"
    )
    if init_duration_ms is not None:
        line += f"\tInit Duration: {init_duration_ms:.2f} ms"
    return line + "\t"

"""The log stream names and START/END/REPORT lines Lambda writes, in CloudWatch's format."""

from __future__ import annotations

import math
import time
import uuid


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

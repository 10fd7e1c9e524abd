"""InvokeWithResponseStream: a function's output as AWS event-stream frames, as it is made."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from firebox.api.invocations import SYNC_LIMIT, _check_payload, _client_context
from firebox.api.operation import Call, operation
from firebox.worker.invocation import InvocationResult


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("B", len(raw_name))
        + raw_name
        + b"\x07"
        + struct.pack(">H", len(raw_value))
        + raw_value
    )


def frame(event_type: str, payload: bytes, content_type: str) -> bytes:
    """One message of the AWS event stream encoding (prelude, headers, payload, CRCs)."""
    headers = (_header(":event-type", event_type) + _header(":content-type", content_type)
               + _header(":message-type", "event"))  # fmt: skip
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _complete(result: InvocationResult, log_tail: bool) -> bytes:
    body: dict[str, str] = {}
    if result.function_error:
        try:
            error = json.loads(result.payload)
            body["ErrorCode"] = str(error.get("errorType", result.function_error))
            body["ErrorDetails"] = str(error.get("errorMessage", ""))
        except (ValueError, AttributeError):
            body["ErrorCode"], body["ErrorDetails"] = result.function_error, ""
    if log_tail:
        body["LogResult"] = base64.b64encode(result.log_tail()).decode()
    return frame("InvokeComplete", json.dumps(body).encode(), "application/json")


@operation("InvokeWithResponseStream", max_body=SYNC_LIMIT)
async def invoke_stream(call: Call) -> Response:
    invokes = call.platform.invokes
    ref = call.function_ref()
    payload = _check_payload(call.params["Payload"], "RequestResponse")
    client_context = _client_context(call.params.get("ClientContext"))
    log_tail = call.params.get("LogType") == "Tail"
    deployed = invokes.catalog.deployed(ref, route=True)  # unknown function: an error, not a stream
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(
        invokes.invoke(ref, payload, client_context, on_chunk=chunks.put_nowait, deployed=deployed)
    )
    task.add_done_callback(lambda _: chunks.put_nowait(None))
    first = await chunks.get()
    if first is None and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]  # throttled, say: an AWS error answer

    async def frames() -> AsyncIterator[bytes]:
        item, streamed = first, False
        while item is not None:
            streamed = True
            yield frame("PayloadChunk", item, "application/octet-stream")
            item = await chunks.get()
        result = task.result()
        if not streamed and not result.function_error and result.payload:
            yield frame("PayloadChunk", result.payload, "application/octet-stream")  # buffered
        yield _complete(result, log_tail)

    headers = {"X-Amz-Executed-Version": deployed.record.version,
               "Content-Type": "application/vnd.amazon.eventstream"}  # fmt: skip
    return StreamingResponse(
        frames(), 200, headers, media_type="application/vnd.amazon.eventstream"
    )


routes = [
    Route(
        "/2021-11-15/functions/{FunctionName}/response-streaming-invocations",
        invoke_stream,
        methods=["POST"],
    ),
]

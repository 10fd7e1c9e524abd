"""The Invoke route: RequestResponse, Event and DryRun."""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import constraint_error
from firebox.domain.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
)

SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def _check_payload(payload: bytes, invocation_type: str) -> bytes:
    if invocation_type == "Event" and len(payload) > ASYNC_LIMIT:
        raise RequestTooLargeException(
            f"{len(payload)} byte payload is too large for the Event invocation type "
            f"(limit {ASYNC_LIMIT} bytes)"
        )
    if len(payload) > SYNC_LIMIT:
        raise RequestTooLargeException(
            f"Request must be smaller than {SYNC_LIMIT} bytes for the InvokeFunction operation"
        )
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return payload


def _client_context(header: str | None) -> str | None:
    if not header:
        return None
    if len(header) > CLIENT_CONTEXT_LIMIT:
        raise InvalidParameterValueException(
            f"Client context must be smaller than {CLIENT_CONTEXT_LIMIT} bytes"
        )
    try:
        context = json.loads(base64.b64decode(header, validate=True).decode())
        if not isinstance(context, dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    # Re-serialised: compact ASCII JSON, so nothing a caller sends can break the header it rides in.
    return json.dumps(context, separators=(",", ":"))


async def invoke(request: Request) -> Response:
    ref = function_ref(request)
    invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type not in INVOCATION_TYPES:
        raise constraint_error(invocation_type, "invocationType",
                               "Member must satisfy enum value set: [Event, RequestResponse, "
                               "DryRun]")  # fmt: skip
    log_type = request.headers.get("x-amz-log-type", "None")
    if log_type not in ("None", "Tail"):
        raise constraint_error(log_type, "logType",
                               "Member must satisfy enum value set: [None, Tail]")  # fmt: skip
    payload = _check_payload(await request.body(), invocation_type)
    if invocation_type == "DryRun":
        _platform(request).catalog.deployed(ref)
        return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})
    if invocation_type == "Event":
        request_id = await _platform(request).async_invoker.accept(ref, payload)
        return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
    client_context = _client_context(request.headers.get("x-amz-client-context"))
    result = await _platform(request).invokes.invoke(ref, payload, client_context)
    # The request id is the invocation's own, as on Lambda: it finds the run in the logs.
    headers = {
        "X-Amz-Executed-Version": result.executed_version,
        "x-amzn-RequestId": result.request_id,
    }
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if log_type == "Tail":
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail()).decode()
    return Response(result.payload, 200, headers, media_type="application/json")


routes = [Route("/2015-03-31/functions/{name}/invocations", invoke, methods=["POST"])]

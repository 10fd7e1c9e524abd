"""The Invoke route: RequestResponse, Event and DryRun."""

from __future__ import annotations

import base64
import binascii
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform, function_ref
from firebox.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
)

SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


def _check_payload(payload: bytes, invocation_type: str) -> bytes:
    limit = ASYNC_LIMIT if invocation_type == "Event" else SYNC_LIMIT
    if len(payload) > limit:
        operation = "InvokeAsync" if invocation_type == "Event" else "Invoke"
        raise RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the {operation} operation"
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
        decoded = base64.b64decode(header, validate=True).decode()
        if not isinstance(json.loads(decoded), dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    return decoded


async def invoke(request: Request) -> Response:
    functions = _platform(request).functions
    ref = function_ref(request)
    invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed "
            "to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, "
            "DryRun]"
        )
    payload = _check_payload(await request.body(), invocation_type)
    if invocation_type == "DryRun":
        functions.deployed(ref)
        return Response(status_code=204)
    if invocation_type == "Event":
        functions.invoke_event(ref, payload)
        return Response(status_code=202)
    client_context = _client_context(request.headers.get("x-amz-client-context"))
    result = await functions.invoke(ref, payload, client_context)
    headers = {"X-Amz-Executed-Version": result.executed_version}
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if request.headers.get("x-amz-log-type") == "Tail":
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail()).decode()
    return Response(result.payload, 200, headers, media_type="application/json")


routes = [Route("/2015-03-31/functions/{name}/invocations", invoke, methods=["POST"])]

"""The Invoke route: RequestResponse, Event and DryRun."""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from starlette.responses import Response
from starlette.routing import Route

from firebox.api.operation import Call, operation
from firebox.api.parsing import loads
from firebox.domain.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
)

SYNC_LIMIT = 6 * 1024 * 1024
ASYNC_LIMIT = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583


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
        loads(payload)
    except RecursionError:
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            "the document is nested too deeply"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            "Could not parse request body into json: Could not parse payload into json: "
            f"{str(exc)[:200]}"
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
        context = loads(base64.b64decode(header, validate=True).decode())
        if not isinstance(context, dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    # Re-serialised: compact ASCII JSON, so nothing a caller sends can break the header it rides in.
    return json.dumps(context, separators=(",", ":"))


@operation("Invoke", max_body=SYNC_LIMIT, wire_name="InvokeFunction")
async def invoke(call: Call) -> Response:
    params, platform = call.params, call.platform
    ref = call.function_ref()
    invocation_type = params.get("InvocationType", "RequestResponse")
    log_type = params.get("LogType", "None")
    payload = _check_payload(params["Payload"], invocation_type)
    if invocation_type == "DryRun":
        platform.catalog.deployed(ref)
        return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})
    if invocation_type == "Event":
        request_id = await platform.async_invoker.accept(ref, payload)
        return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
    client_context = _client_context(params.get("ClientContext"))
    result = await platform.invokes.invoke(ref, payload, client_context)
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


routes = [Route("/2015-03-31/functions/{FunctionName}/invocations", invoke, methods=["POST"])]

"""AWS-shaped JSON responses and error envelopes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.parsing import validation_message
from firebox.domain.errors import ConstraintError, LambdaError, UnknownOperationException


def aws_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the request id header every AWS API sends."""
    all_headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if headers:
        all_headers.update(headers)
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )


def error_response(exc: LambdaError) -> Response:
    """The error envelope botocore turns into a typed exception."""
    headers = {"x-amzn-ErrorType": exc.error_type}
    if exc.status == 429:
        headers["Retry-After"] = "1"
    body = exc.body()
    if isinstance(exc, ConstraintError):  # found by the domain: worded here, as AWS words it
        body["Message"] = validation_message(exc.value, exc.member, exc.constraint)
    return aws_json(body, exc.status, headers)


async def lambda_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LambdaError)
    return error_response(exc)


async def not_found_handler(request: Request, exc: Exception) -> Response:
    return error_response(
        UnknownOperationException(f"Unknown operation: {request.method} {request.url.path}")
    )

"""AWS-shaped JSON responses and the error envelopes of each protocol firebox speaks."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.parsing import validation_message
from firebox.domain.errors import ConstraintError, LambdaError


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


def _message(exc: LambdaError) -> str:
    if isinstance(exc, ConstraintError):  # found by the domain: worded here, as AWS words it
        return validation_message(exc.value, exc.member, exc.constraint)
    return exc.message


def error_response(exc: LambdaError) -> Response:
    """The REST-JSON (Lambda) error envelope botocore turns into a typed exception."""
    headers = {"x-amzn-ErrorType": exc.error_type}
    if exc.status == 429:
        headers["Retry-After"] = "1"
    body = exc.body()
    body["Message"] = _message(exc)
    return aws_json(body, exc.status, headers)


def json11_error_response(exc: LambdaError) -> Response:
    """The JSON 1.0/1.1 error envelope (`__type`, `message`), as CloudWatch Logs answers."""
    body = json.dumps({"__type": exc.error_type, "message": _message(exc)}).encode()
    return Response(body, exc.status, media_type="application/x-amz-json-1.1",
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})  # fmt: skip


@dataclass(frozen=True)
class Wording:
    """How one service's front end names what is wrong with a request."""

    protocol: str  # "rest-json" or "json"
    type_error: str  # a member of the wrong type (the deserialiser's complaint)
    constraint_error: str  # a member outside the model's constraints
    too_large: tuple[str, int]  # a body over the operation's cap
    internal: tuple[str, int]  # firebox's own failure

    def render(self, exc: LambdaError) -> Response:
        if self.protocol == "json":
            return json11_error_response(exc)
        return error_response(exc)

    def error(self, kind: str, message: str) -> LambdaError:
        """An error of this service's type for kind: type, constraint, too_large, internal."""
        if kind == "type":
            name, status = self.type_error, 400
        elif kind == "constraint":
            name, status = self.constraint_error, 400
        elif kind == "too_large":
            name, status = self.too_large
        else:
            name, status = self.internal
        error = LambdaError(message)
        error.error_type, error.status = name, status
        error.kind = "Service" if status >= 500 else "User"
        return error


LAMBDA = Wording(
    "rest-json", "InvalidRequestContentException", "ValidationException",
    ("RequestTooLargeException", 413), ("ServiceException", 500),
)  # fmt: skip
LOGS = Wording(
    "json", "SerializationException", "InvalidParameterException",
    ("InvalidParameterException", 400), ("ServiceUnavailableException", 500),
)  # fmt: skip


async def lambda_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LambdaError)
    return error_response(exc)

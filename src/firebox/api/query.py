"""The AWS query protocol (STS, IAM, SNS; form-encoded `Action=…`): its XML envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from starlette.responses import Response

from firebox.domain.errors import LambdaError


def _xml(members: Mapping[str, object]) -> str:
    return "".join(
        f"<{k}>{_xml(v) if isinstance(v, Mapping) else escape(str(v))}</{k}>"
        for k, v in members.items()
    )


def query_response(action: str, namespace: str, result: Mapping[str, object]) -> Response:
    """`<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>` as AWS writes it."""
    members = _xml(result)
    request_id = str(uuid.uuid4())
    body = (
        f'<{action}Response xmlns="{namespace}">'
        f"<{action}Result>{members}</{action}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return Response(body, 200, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


def query_error_response(exc: LambdaError) -> Response:
    """`<ErrorResponse><Error><Type/><Code/><Message/></Error>`: what botocore's query parser
    turns into the service's typed exception."""
    request_id = str(uuid.uuid4())
    sender = "Sender" if exc.status < 500 else "Receiver"
    body = (
        "<ErrorResponse><Error>"
        f"<Type>{sender}</Type><Code>{escape(exc.error_type)}</Code>"
        f"<Message>{escape(exc.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(body, exc.status, media_type="text/xml",
                    headers={"x-amzn-RequestId": request_id})  # fmt: skip


MAX_QUERY_BODY = 64 * 1024  # a query-protocol form: its parameters only


def too_large() -> Response:
    return query_error_response(QueryError("RequestEntityTooLarge", "Request is too large"))


class QueryError(LambdaError):
    """An error of a query-protocol service, with the code AWS gives it."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = code
        self.status = status

"""The error envelopes of the protocols firebox does not otherwise answer in yet (rest-xml,
Smithy RPC v2 CBOR), and the "unknown operation" answer in whichever protocol a request
speaks: what every SDK turns into its typed exception, never a bare 404 page."""

from __future__ import annotations

import functools
import uuid
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import botocore.exceptions
import botocore.session
import cbor2
from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, read_body
from firebox.api.query import MAX_QUERY_BODY, QueryError, query_error_response, too_large
from firebox.api.responses import error_response, json11_error_response
from firebox.domain.errors import CodedError, LambdaError, UnknownOperationException


def rest_xml_error(exc: LambdaError, method: str = "GET", resource: str = "") -> Response:
    """S3's `<Error>` document (no body for HEAD, as S3 answers HEADs)."""
    request_id = uuid.uuid4().hex[:16].upper()
    headers = {"x-amz-request-id": request_id}
    if method == "HEAD":
        return Response(None, exc.status, headers=headers)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(exc.error_type)}</Code><Message>{escape(exc.message)}</Message>"
        + (f"<Resource>{escape(resource)}</Resource>" if resource else "")
        + f"<RequestId>{request_id}</RequestId></Error>"
    )
    return Response(body, exc.status, media_type="application/xml", headers=headers)


def cbor_error(exc: LambdaError) -> Response:
    """Smithy RPC v2 CBOR: a CBOR map with `__type` and `message`."""
    body = cbor2.dumps({"__type": exc.error_type, "message": exc.message})
    return Response(body, exc.status, media_type="application/cbor",
                    headers={"smithy-protocol": "rpc-v2-cbor",
                             "x-amzn-RequestId": str(uuid.uuid4())})  # fmt: skip


# Signing names that are not their service's model name.
_MODEL_NAMES = {"monitoring": "cloudwatch", "states": "stepfunctions", "email": "ses",
                "execute-api": "apigateway"}  # fmt: skip


@functools.lru_cache(maxsize=64)
def protocol_of(signing_name: str) -> str | None:
    """The protocol current SDKs speak to a service, from botocore's own models."""
    session = botocore.session.get_session()
    try:
        model = session.get_service_model(_MODEL_NAMES.get(signing_name, signing_name))
    except botocore.exceptions.UnknownServiceError:
        return None
    protocols = model.metadata.get("protocols") or [model.metadata.get("protocol")]
    return str(protocols[0])


def scope_service(authorization: str) -> str:
    """The service of a SigV4 credential scope (`Credential=KEY/DATE/REGION/SERVICE/…`)."""
    _, found, rest = authorization.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/") if found else []
    return parts[3] if len(parts) >= 4 else ""


def request_protocol(request: Request) -> tuple[str, str]:
    """(protocol, service) a request speaks, as far as its headers, path and host tell."""
    headers = request.headers
    if "x-amz-target" in headers:
        return "json", headers["x-amz-target"].partition(".")[0]
    path = request.url.path
    if headers.get("smithy-protocol") == "rpc-v2-cbor" or path.startswith("/service/"):
        # /service/<ServiceShape>/operation/<Operation>
        return "smithy-rpc-v2-cbor", [*path.split("/"), "", "", ""][2]
    service = scope_service(headers.get("authorization", ""))
    if not service:
        credential = request.query_params.get("X-Amz-Credential", "")
        service = credential.split("/")[3] if credential.count("/") >= 4 else ""
    host = headers.get("host", "").split(":")[0]
    if not service and ".s3." in f".{host}":  # virtual-host style: <bucket>.s3.<host>
        service = "s3"
    return (protocol_of(service) or "rest-json") if service else "rest-json", service


async def unknown_operation(request: Request) -> Response:
    """The answer to a request no route serves, in the envelope of the protocol it speaks."""
    protocol, service = request_protocol(request)
    what = f"{request.method} {request.url.path}"[:200]
    if protocol == "json":
        target = request.headers.get("x-amz-target", "")[:100]
        return json11_error_response(CodedError(
            "UnknownOperationException", f"Unknown operation {target}: firebox does not serve it"
        ))  # fmt: skip
    if protocol == "smithy-rpc-v2-cbor":
        return cbor_error(UnknownOperationException(f"Unknown operation: {what}"))
    if protocol == "query":
        try:
            body = await read_body(request, MAX_QUERY_BODY)
        except BodyTooLarge:
            return too_large()
        form = parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or [request.query_params.get("Action", "")])[0][:100]
        return query_error_response(QueryError(
            "InvalidAction", f"Could not find operation {action or what}: firebox does not "
            f"serve {service} yet"
        ))  # fmt: skip
    if protocol == "rest-xml":
        error = QueryError("NotImplemented", f"firebox does not implement {what} yet", 501)
        return rest_xml_error(error, request.method, request.url.path)
    return error_response(UnknownOperationException(f"Unknown operation: {what}"[:300]))


async def unknown_operation_handler(request: Request, exc: Exception) -> Response:
    return await unknown_operation(request)

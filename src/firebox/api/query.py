"""The AWS query protocol (STS, IAM, SNS; form-encoded `Action=…`): its XML envelopes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.model import operation_model
from firebox.api.operation import authenticate, read_body
from firebox.api.validation import Compiler, TypeMismatch, Violation, describe, member_path
from firebox.auth.errors import AuthError
from firebox.auth.sigv4 import Caller
from firebox.domain.errors import CodedError, LambdaError


class QueryMap(dict[str, str]):
    """A map member as the query protocol writes it: `<entry><key/><value/></entry>`."""


def _value(value: object) -> str:
    if isinstance(value, QueryMap):
        return "".join(f"<entry><key>{escape(k)}</key><value>{escape(v)}</value></entry>"
                       for k, v in value.items())  # fmt: skip
    if isinstance(value, Mapping):
        return _xml(value)
    if isinstance(value, list):  # the query protocol's lists: <member> elements
        return "".join(f"<member>{_value(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _xml(members: Mapping[str, object]) -> str:
    return "".join(f"<{k}>{_value(v)}</{k}>" for k, v in members.items() if v is not None)


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


# Query services (STS, IAM, SNS) name the signature errors of the JSON services otherwise.
AUTH_CODES = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "ExpiredTokenException": "ExpiredToken",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "IncompleteSignatureException": "IncompleteSignature",
}


def query_error_response(exc: LambdaError) -> Response:
    """`<ErrorResponse><Error><Type/><Code/><Message/></Error>`: what botocore's query parser
    turns into the service's typed exception."""
    request_id = str(uuid.uuid4())
    sender = "Sender" if exc.status < 500 else "Receiver"
    if isinstance(exc, AuthError):
        code = AUTH_CODES.get(exc.error_type, exc.error_type)
    else:  # SQS's errors carry their older query-protocol names
        code = getattr(exc, "query_code", None) or exc.error_type
    body = (
        "<ErrorResponse><Error>"
        f"<Type>{sender}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(exc.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(body, exc.status, media_type="text/xml",
                    headers={"x-amzn-RequestId": request_id})  # fmt: skip


MAX_QUERY_BODY = 64 * 1024  # a query-protocol form: its parameters only


def too_large() -> Response:
    return query_error_response(QueryError("RequestEntityTooLarge", "Request is too large"))


class QueryError(CodedError):
    """An error of a query-protocol service, with the code AWS gives it."""


_compilers: dict[str, Compiler] = {}


def _tags(params: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """A `Name.member.N.Key` / `.Value` list of the query protocol, in order."""
    tags: list[dict[str, str]] = []
    n = 1
    while f"{name}.member.{n}.Key" in params:
        tags.append({"Key": params[f"{name}.member.{n}.Key"],
                     "Value": params.get(f"{name}.member.{n}.Value", "")})  # fmt: skip
        n += 1
    return tags


def checked(service: str, action: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The action's members from the form, typed and checked against the service's model:
    scalars, and `Tags` lists of Key/Value (other lists are not read yet)."""
    shape = operation_model(service, action).input_shape
    members: dict[str, Any] = {}
    violations: list[Violation] = []
    for name, member in shape.members.items():
        if member.type_name == "list" and name == "Tags":
            tags = _tags(params, name)
            if tags:
                members[name] = tags
            continue
        if name not in params or member.type_name in ("list", "structure", "map"):
            continue
        value: Any = params[name]
        if member.type_name in ("integer", "long"):
            if not (value.isascii() and value.lstrip("-").isdigit()):
                wrong = Violation(member_path("", name), value, "Member must be a number")
                raise QueryError("ValidationError", describe([wrong]))
            value = int(value)
        elif member.type_name == "boolean":
            value = value == "true"
        members[name] = value
    try:
        _compilers.setdefault(service, Compiler()).checker(shape)(members, "", violations)
    except TypeMismatch as exc:
        raise QueryError("ValidationError", exc.describe()) from None
    if violations:
        raise QueryError("ValidationError", describe(violations))
    return members


async def read_action(
    request: Request, service: str, actions: Mapping[str, object], version: str,
    limit: int = MAX_QUERY_BODY,
) -> tuple[Caller | None, str, dict[str, str]]:  # fmt: skip
    """A query-protocol request's caller (its signature checked), its Action (one of
    `actions`, else InvalidAction) and its parameters, from the form body and query string."""
    body = await read_body(request, limit)
    caller = await authenticate(request, limit, {service})
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    params = {**dict(request.query_params), **form}
    action = params.get("Action", "")
    if action not in actions:
        message = f"Could not find operation {action[:100]} for version {version}"
        raise QueryError("InvalidAction", message)
    return caller, action, params

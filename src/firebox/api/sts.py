"""STS over the query protocol: GetCallerIdentity (tools call it first to learn the account)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, authenticate, read_body
from firebox.api.query import QueryError, query_error_response, query_response
from firebox.auth.sigv4 import Caller
from firebox.domain.errors import LambdaError

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
MAX_BODY = 64 * 1024

Handler = Callable[[Request, dict[str, str], Caller | None], Awaitable[Response]]


async def get_caller_identity(
    request: Request, params: dict[str, str], caller: Caller | None
) -> Response:
    """The account and the identity that signed the call (the account's root for a key
    firebox issued; no IAM users yet)."""
    account = request.app.state.platform.settings.account_id
    return query_response("GetCallerIdentity", NAMESPACE, {
        "UserId": caller.access_key_id if caller else account,
        "Account": account,
        "Arn": f"arn:aws:iam::{account}:root",
    })  # fmt: skip


ACTIONS: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity}


async def sts_api(request: Request) -> Response:
    """A query-protocol request to STS: `Action` from the form body or the query string."""
    try:
        body = await read_body(request, MAX_BODY)
        caller = await authenticate(request, MAX_BODY, {"sts"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        params = {**{k: v for k, v in request.query_params.items()}, **form}
        action = params.get("Action", "")
        handler = ACTIONS.get(action)
        if handler is None:
            message = f"Could not find operation {action[:100]} for version 2011-06-15"
            raise QueryError("InvalidAction", message)
        return await handler(request, params, caller)
    except BodyTooLarge:
        return query_error_response(QueryError("RequestEntityTooLarge", "Request is too large"))
    except LambdaError as exc:
        return query_error_response(exc)

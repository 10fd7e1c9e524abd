"""STS over the query protocol: GetCallerIdentity (tools call it first to learn the account)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, authenticate, authorize, read_body
from firebox.api.query import (
    MAX_QUERY_BODY,
    QueryError,
    checked,
    query_error_response,
    query_response,
    too_large,
)
from firebox.auth.sigv4 import Caller
from firebox.domain.errors import LambdaError

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"

Handler = Callable[[Request, dict[str, str], Caller | None], Awaitable[Response]]


async def get_caller_identity(
    request: Request, params: dict[str, str], caller: Caller | None
) -> Response:
    """The account and the identity that signed the call (the account's root for a key
    firebox issued; no IAM users yet)."""
    account = request.app.state.platform.settings.account_id
    return query_response("GetCallerIdentity", NAMESPACE, {
        "UserId": caller.access_key_id if caller else account,
        "Account": caller.arn.split(":")[4] if caller and caller.arn else account,
        "Arn": caller.arn if caller and caller.arn else f"arn:aws:iam::{account}:root",
    })  # fmt: skip


async def assume_role(request: Request, params: dict[str, str], caller: Caller | None) -> Response:
    """Temporary credentials for a role's session (any role ARN: firebox has no IAM roles
    to check against yet), usable until they expire."""
    members = checked("sts", "AssumeRole", params)
    role_arn: str = members["RoleArn"]
    parts = role_arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or parts[2] != "iam"
        or not parts[5].startswith("role/")
    ):
        raise QueryError("ValidationError", f"{role_arn[:200]} is invalid")
    account, role = parts[4], parts[5].rsplit("/", 1)[-1]
    session: str = members["RoleSessionName"]
    duration: int = members.get("DurationSeconds", 3600)
    arn = f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    platform = request.app.state.platform
    key = platform.sessions.issue(arn, duration)
    expiration = datetime.datetime.fromtimestamp(key.expires, datetime.UTC)
    role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
    return query_response("AssumeRole", NAMESPACE, {
        "Credentials": {
            "AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key,
            "SessionToken": key.session_token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session}", "Arn": arn},
    })  # fmt: skip


ACTIONS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}


async def sts_api(request: Request) -> Response:
    """A query-protocol request to STS: `Action` from the form body or the query string."""
    try:
        body = await read_body(request, MAX_QUERY_BODY)
        caller = await authenticate(request, MAX_QUERY_BODY, {"sts"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        params = {**dict(request.query_params), **form}
        action = params.get("Action", "")
        handler = ACTIONS.get(action)
        if handler is None:
            message = f"Could not find operation {action[:100]} for version 2011-06-15"
            raise QueryError("InvalidAction", message)
        if action != "GetCallerIdentity":  # needs no permission, as on AWS
            resource = params.get("RoleArn", "*")
            authorize(request, caller, f"sts:{action}", resource, "AccessDenied")
        return await handler(request, params, caller)
    except BodyTooLarge:
        return too_large()
    except LambdaError as exc:
        return query_error_response(exc)

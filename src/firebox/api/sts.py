"""STS over the query protocol: GetCallerIdentity (tools call it first to learn the account)."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, authorize
from firebox.api.query import (
    QueryError,
    checked,
    query_error_response,
    query_response,
    read_action,
    too_large,
)
from firebox.auth.sigv4 import Caller
from firebox.domain.errors import LambdaError
from firebox.iam.authorizer import AccessDenied, Denial, is_session
from firebox.iam.policy import parse

if TYPE_CHECKING:
    from firebox.platform import Platform

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"

Handler = Callable[[Request, dict[str, str], Caller | None], Awaitable[Response]]


def _role_id(platform: Platform, role_name: str, role_arn: str) -> str:
    """The role's unique id (AROA…): IAM's, or a stable stand-in for a role firebox lacks."""
    known = platform.roles.view(role_name)
    if known is not None and known.arn == role_arn:
        return known.role_id
    return "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()


async def get_caller_identity(
    request: Request, params: dict[str, str], caller: Caller | None
) -> Response:
    """The account and the identity that signed the call: the account's root for its keys,
    the role session for temporary credentials (UserId `AROA…:session`, as AWS gives it)."""
    platform: Platform = request.app.state.platform
    account = platform.settings.account_id
    user_id = caller.access_key_id if caller else account
    if caller and caller.arn:
        account = caller.arn.split(":")[4]
        _, role, session = caller.arn.split(":", 5)[5].split("/", 2)
        user_id = f"{_role_id(platform, role, f'arn:aws:iam::{account}:role/{role}')}:{session}"
    return query_response("GetCallerIdentity", NAMESPACE, {
        "UserId": user_id, "Account": account,
        "Arn": caller.arn if caller and caller.arn else f"arn:aws:iam::{account}:root",
    })  # fmt: skip


async def assume_role(request: Request, params: dict[str, str], caller: Caller | None) -> Response:
    """Temporary credentials for a session of a role of this account, usable until they
    expire: a role session may assume a role whose trust policy (or its own policies, for an
    account principal) allows it; the account's keys may assume any."""
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
    account, name = parts[4], parts[5].rsplit("/", 1)[-1]
    platform: Platform = request.app.state.platform
    stored = platform.roles.store.get(name) if account == platform.settings.account_id else None
    role = stored if stored is not None and stored["Arn"] == role_arn else None
    session: str = members["RoleSessionName"]
    duration: int = members.get("DurationSeconds", 3600)
    chained = caller is not None and is_session(caller.arn)
    if role is not None:
        if chained and duration > 3600:
            raise QueryError("ValidationError", "The requested DurationSeconds exceeds the 1 "
                             "hour session limit for roles assumed by role chaining.")  # fmt: skip
        if duration > role["MaxSessionDuration"]:
            raise QueryError("ValidationError", "The requested DurationSeconds exceeds the "
                             "MaxSessionDuration set for this role.")  # fmt: skip
    if caller is not None and chained:
        if role is None:
            try:
                platform.iam.refuse(Denial(caller.arn, "sts:AssumeRole", role_arn, False, False,
                                           "because the role does not exist"))  # fmt: skip
            except AccessDenied as exc:
                raise QueryError("AccessDenied", str(exc), 403) from None
        else:
            trust = parse(role["AssumeRolePolicyDocument"], resource_policy=True)
            authorize(request, caller, "sts:AssumeRole", role_arn, "AccessDenied", trust)
    arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
    key = platform.sessions.issue(arn, duration)
    expiration = datetime.datetime.fromtimestamp(key.expires, datetime.UTC)
    return query_response("AssumeRole", NAMESPACE, {
        "Credentials": {
            "AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key,
            "SessionToken": key.session_token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "AssumedRoleUser": {"AssumedRoleId": f"{_role_id(platform, name, role_arn)}:{session}",
                            "Arn": arn},
    })  # fmt: skip


ACTIONS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}


async def sts_api(request: Request) -> Response:
    """A query-protocol request to STS: `Action` from the form body or the query string."""
    try:
        caller, action, params = await read_action(request, "sts", ACTIONS, "2011-06-15")
        return await ACTIONS[action](request, params, caller)  # GetCallerIdentity: no permission
    except BodyTooLarge:
        return too_large()
    except LambdaError as exc:
        return query_error_response(exc)

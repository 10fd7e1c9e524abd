"""IAM over the query protocol: the roles functions run as, their inline and attached policies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, authorize
from firebox.api.query import (
    checked,
    query_error_response,
    query_response,
    read_action,
    too_large,
)
from firebox.domain.errors import LambdaError
from firebox.iam import managed
from firebox.iam.roles import Roles

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
Handler = Callable[[Roles, dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _role(role: dict[str, Any]) -> dict[str, Any]:
    """A role as IAM's XML carries it: its trust policy URL-encoded (botocore decodes it)."""
    out = {k: role[k] for k in ("Path", "RoleName", "RoleId", "Arn", "CreateDate")}
    out["AssumeRolePolicyDocument"] = quote(role["AssumeRolePolicyDocument"])
    if role.get("Description"):
        out["Description"] = role["Description"]
    out["MaxSessionDuration"] = role["MaxSessionDuration"]
    if role.get("Tags"):
        out["Tags"] = role["Tags"]
    return out


def _page(items: list[Any], members: dict[str, Any], key: str) -> dict[str, Any]:
    """Marker / MaxItems pagination as IAM pages: Marker is where the next page starts."""
    start = int(members["Marker"]) if str(members.get("Marker", "")).isdigit() else 0
    size = members.get("MaxItems", 100)
    page = items[start : start + size]
    truncated = start + size < len(items)
    out: dict[str, Any] = {key: page, "IsTruncated": truncated}
    if truncated:
        out["Marker"] = str(start + size)
    return out


async def create_role(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    role = roles.create(m["RoleName"], m["AssumeRolePolicyDocument"], m.get("Path", "/"),
                        m.get("Description", ""), m.get("MaxSessionDuration", 3600),
                        m.get("Tags"))  # fmt: skip
    return {"Role": _role(role)}


async def get_role(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    return {"Role": _role(roles.get(m["RoleName"]))}


async def list_roles(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    return _page([_role(r) for r in roles.list(m.get("PathPrefix", "/"))], m, "Roles")


async def delete_role(roles: Roles, m: dict[str, Any]) -> None:
    roles.delete(m["RoleName"])


async def put_role_policy(roles: Roles, m: dict[str, Any]) -> None:
    roles.put_policy(m["RoleName"], m["PolicyName"], m["PolicyDocument"])


async def get_role_policy(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    document = roles.get_policy(m["RoleName"], m["PolicyName"])
    return {"RoleName": roles.get(m["RoleName"])["RoleName"], "PolicyName": m["PolicyName"],
            "PolicyDocument": quote(document)}  # fmt: skip


async def delete_role_policy(roles: Roles, m: dict[str, Any]) -> None:
    roles.delete_policy(m["RoleName"], m["PolicyName"])


async def list_role_policies(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    return _page(roles.policy_names(m["RoleName"]), m, "PolicyNames")


async def attach_role_policy(roles: Roles, m: dict[str, Any]) -> None:
    roles.attach(m["RoleName"], m["PolicyArn"])


async def detach_role_policy(roles: Roles, m: dict[str, Any]) -> None:
    roles.detach(m["RoleName"], m["PolicyArn"])


async def list_attached_role_policies(roles: Roles, m: dict[str, Any]) -> dict[str, Any]:
    attached = [{"PolicyName": managed.name_of(arn), "PolicyArn": arn}
                for arn in roles.attached(m["RoleName"])]  # fmt: skip
    return _page(attached, m, "AttachedPolicies")


ACTIONS: dict[str, Handler] = {
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "DeleteRole": delete_role,
    "PutRolePolicy": put_role_policy,
    "GetRolePolicy": get_role_policy,
    "DeleteRolePolicy": delete_role_policy,
    "ListRolePolicies": list_role_policies,
    "AttachRolePolicy": attach_role_policy,
    "DetachRolePolicy": detach_role_policy,
    "ListAttachedRolePolicies": list_attached_role_policies,
}


def _resource(roles: Roles, members: dict[str, Any]) -> str:
    """The role an action is on, by ARN (with its path, if it exists); else any."""
    name = members.get("RoleName")
    if not name:
        return "*"
    known = roles.view(name)
    path = members.get("Path", "/")  # CreateRole's: the role it would make
    return known.arn if known else f"arn:aws:iam::{roles.account}:role{path}{name}"


async def iam_api(request: Request) -> Response:
    """A query-protocol request to IAM: `Action` from the form body or the query string."""
    try:
        caller, action, params = await read_action(request, "iam", ACTIONS, "2010-05-08")
        members = checked("iam", action, params)
        roles: Roles = request.app.state.platform.roles
        authorize(request, caller, f"iam:{action}", _resource(roles, members), "AccessDenied")
        result = await ACTIONS[action](roles, members)
        return query_response(action, NAMESPACE, result or {})
    except BodyTooLarge:
        return too_large()
    except LambdaError as exc:
        return query_error_response(exc)

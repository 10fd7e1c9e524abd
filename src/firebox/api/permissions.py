"""Routes of a function's resource-based policy: AddPermission, RemovePermission, GetPolicy."""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response
from starlette.routing import Route

from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.policies import Permission

POLICY = "/2015-03-31/functions/{FunctionName}/policy"


@operation("AddPermission")
async def add_permission(call: Call) -> Response:
    p = call.params
    permission = Permission(
        p["StatementId"], p["Action"], p["Principal"], p.get("SourceArn"),
        p.get("SourceAccount"), p.get("EventSourceToken"), p.get("PrincipalOrgID"),
        p.get("FunctionUrlAuthType"), p.get("InvokedViaFunctionUrl"),
    )  # fmt: skip
    added = await call.platform.policies.add(call.function_ref(), permission, p.get("RevisionId"))
    return aws_json({"Statement": json.dumps(added, separators=(",", ":"))}, 201)


@operation("RemovePermission")
async def remove_permission(call: Call) -> Response:
    await call.platform.policies.remove(
        call.function_ref(), call.params["StatementId"], call.params.get("RevisionId")
    )
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("GetPolicy")
async def get_policy(call: Call) -> Response:
    policy, revision = call.platform.policies.get(call.function_ref())
    return aws_json({"Policy": policy, "RevisionId": revision})


routes = [
    Route(POLICY, add_permission, methods=["POST"]),
    Route(POLICY, get_policy, methods=["GET"]),
    Route(POLICY + "/{StatementId}", remove_permission, methods=["DELETE"]),
]

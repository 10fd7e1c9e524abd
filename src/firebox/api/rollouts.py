"""Routes of firebox's rollouts (an extension: on AWS this is CodeDeploy's job)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.rollouts import RolloutPlan
from firebox.domain.types import JSONDict

ROLLOUTS = "/_firebox/rollouts"
FIELDS = (
    ("IntervalSeconds", "interval_s"),
    ("MaxErrorRate", "max_error_rate"),
    ("MinInvocations", "min_invocations"),
    ("MinStepInvocations", "min_step_invocations"),
)


def _plan(body: JSONDict) -> RolloutPlan:
    """A rollout request (its types checked by firebox's model, its ranges by the plan)."""
    numbers: dict[str, Any] = {field: body[key] for key, field in FIELDS if key in body}
    steps = tuple(body.get("Steps", [10, 50, 100]))
    return RolloutPlan(body["FunctionName"], body["Alias"], body.get("ToVersion", ""), steps,
                       **numbers)  # fmt: skip


@operation("StartRollout", service="firebox")
async def start_rollout(call: Call) -> Response:
    rollout = await call.platform.rollouts.start(_plan(call.params))
    return aws_json(shapes.rollout(rollout), 201)


@operation("ListRollouts", service="firebox")
async def list_rollouts(call: Call) -> Response:
    return aws_json({"Rollouts": [shapes.rollout(r) for r in call.platform.rollouts.list()]})


@operation("GetRollout", service="firebox")
async def get_rollout(call: Call) -> Response:
    params = call.params
    return aws_json(
        shapes.rollout(call.platform.rollouts.get(params["FunctionName"], params["Alias"]))
    )


@operation("AbortRollout", service="firebox")
async def abort_rollout(call: Call) -> Response:
    params = call.params
    rollout = await call.platform.rollouts.abort(params["FunctionName"], params["Alias"])
    return aws_json(shapes.rollout(rollout))


routes = [
    Route(ROLLOUTS, start_rollout, methods=["POST"]),
    Route(ROLLOUTS, list_rollouts, methods=["GET"]),
    Route(ROLLOUTS + "/{FunctionName}/{Alias}", get_rollout, methods=["GET"]),
    Route(ROLLOUTS + "/{FunctionName}/{Alias}", abort_rollout, methods=["DELETE"]),
]

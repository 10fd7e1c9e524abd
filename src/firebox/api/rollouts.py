"""Routes of firebox's rollouts (an extension: on AWS this is CodeDeploy's job)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.functions import _platform
from firebox.api.parsing import parse_json_body
from firebox.api.responses import aws_json
from firebox.control.rollouts import RolloutPlan
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict

ROLLOUTS = "/_firebox/rollouts"


def _plan(body: JSONDict) -> RolloutPlan:
    """A rollout request: names required, numbers and steps of the right types."""
    name, alias = body.get("FunctionName"), body.get("Alias")
    if not isinstance(name, str) or not isinstance(alias, str):
        raise InvalidParameterValueException("FunctionName and Alias are required.")
    numbers: dict[str, Any] = {}
    for key, field, kind in (("IntervalSeconds", "interval_s", (int, float)),
                             ("MaxErrorRate", "max_error_rate", (int, float)),
                             ("MinInvocations", "min_invocations", int),
                             ("MinStepInvocations", "min_step_invocations", int)):  # fmt: skip
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            raise InvalidParameterValueException(f"{key} must be a number.")
        numbers[field] = value
    steps = body.get("Steps", [10, 50, 100])
    if not isinstance(steps, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in steps
    ):
        raise InvalidParameterValueException(
            "Steps must be increasing percentages from 1 to 100, ending at 100 (e.g. 10,50,100)."
        )
    return RolloutPlan(name, alias, str(body.get("ToVersion", "")), tuple(steps), **numbers)


async def start_rollout(request: Request) -> Response:
    body = parse_json_body(await request.body())
    rollout = await _platform(request).rollouts.start(_plan(body))
    return aws_json(shapes.rollout(rollout), 201)


async def list_rollouts(request: Request) -> Response:
    return aws_json({"Rollouts": [shapes.rollout(r) for r in _platform(request).rollouts.list()]})


async def get_rollout(request: Request) -> Response:
    params = request.path_params
    return aws_json(
        shapes.rollout(_platform(request).rollouts.get(params["name"], params["alias"]))
    )


async def abort_rollout(request: Request) -> Response:
    params = request.path_params
    rollout = await _platform(request).rollouts.abort(params["name"], params["alias"])
    return aws_json(shapes.rollout(rollout))


routes = [
    Route(ROLLOUTS, start_rollout, methods=["POST"]),
    Route(ROLLOUTS, list_rollouts, methods=["GET"]),
    Route(ROLLOUTS + "/{name}/{alias}", get_rollout, methods=["GET"]),
    Route(ROLLOUTS + "/{name}/{alias}", abort_rollout, methods=["DELETE"]),
]

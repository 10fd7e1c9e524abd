"""Routes of firebox's rollouts (an extension: on AWS this is CodeDeploy's job)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform
from firebox.api.parsing import parse_json_body
from firebox.api.responses import aws_json

ROLLOUTS = "/_firebox/rollouts"


async def start_rollout(request: Request) -> Response:
    body = parse_json_body(await request.body())
    rollout = await _platform(request).rollouts.start(body)
    return aws_json(rollout.as_json(), 201)


async def list_rollouts(request: Request) -> Response:
    return aws_json({"Rollouts": [r.as_json() for r in _platform(request).rollouts.list()]})


async def get_rollout(request: Request) -> Response:
    params = request.path_params
    return aws_json(_platform(request).rollouts.get(params["name"], params["alias"]).as_json())


async def abort_rollout(request: Request) -> Response:
    params = request.path_params
    rollout = await _platform(request).rollouts.abort(params["name"], params["alias"])
    return aws_json(rollout.as_json())


routes = [
    Route(ROLLOUTS, start_rollout, methods=["POST"]),
    Route(ROLLOUTS, list_rollouts, methods=["GET"]),
    Route(ROLLOUTS + "/{name}/{alias}", get_rollout, methods=["GET"]),
    Route(ROLLOUTS + "/{name}/{alias}", abort_rollout, methods=["DELETE"]),
]

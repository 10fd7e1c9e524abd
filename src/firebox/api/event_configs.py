"""Routes of the FunctionEventInvokeConfig operations and firebox's queue statistics."""

from __future__ import annotations

import uuid
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.event_configs import EventConfigChange
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict

CONFIG = "/2019-09-25/functions/{FunctionName}/event-invoke-config"


def _change(body: JSONDict) -> EventConfigChange:
    """The members a Put/UpdateFunctionEventInvokeConfig body gives."""
    change = EventConfigChange()
    for key, field in (
        ("MaximumRetryAttempts", "maximum_retry_attempts"),
        ("MaximumEventAgeInSeconds", "maximum_event_age"),
    ):
        if key in body:
            change = replace(change, **{field: body[key]})
    targets = body.get("DestinationConfig")
    if targets is not None:
        for member, field in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if member in targets:
                target = (targets[member] or {}).get("Destination")
                change = replace(change, **{field: target or None})
    return change


@operation("PutFunctionEventInvokeConfig")
async def put_config(call: Call) -> Response:
    platform = call.platform
    config = await platform.event_configs.put(call.function_ref(), _change(call.params))
    return aws_json(shapes.event_invoke_config(config, platform.arns))


@operation("UpdateFunctionEventInvokeConfig")
async def update_config(call: Call) -> Response:
    platform = call.platform
    config = await platform.event_configs.update(call.function_ref(), _change(call.params))
    return aws_json(shapes.event_invoke_config(config, platform.arns))


@operation("GetFunctionEventInvokeConfig")
async def get_config(call: Call) -> Response:
    platform = call.platform
    return aws_json(
        shapes.event_invoke_config(platform.event_configs.get(call.function_ref()), platform.arns)
    )


@operation("DeleteFunctionEventInvokeConfig")
async def delete_config(call: Call) -> Response:
    await call.platform.event_configs.delete(call.function_ref())
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _marker(raw: str | None) -> int:
    """A page marker this listing made (its offset); anything else is the client's error."""
    if raw is None or raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidParameterValueException(f"Invalid marker: {raw[:64]}")
    return int(raw)


@operation("ListFunctionEventInvokeConfigs")
async def list_configs(call: Call) -> Response:
    platform, params = call.platform, call.params
    configs = platform.event_configs.list(call.function_ref())
    limit = params.get("MaxItems", 50)
    start = _marker(params.get("Marker"))
    page = configs[start : start + limit]
    body: dict[str, object] = {
        "FunctionEventInvokeConfigs": [shapes.event_invoke_config(c, platform.arns) for c in page]
    }
    if start + limit < len(configs):
        body["NextMarker"] = str(start + limit)
    return aws_json(body)


async def queue_stats(request: Request) -> Response:
    stats = await request.app.state.platform.async_invoker.stats()
    return aws_json({"Functions": stats})


routes = [
    Route(CONFIG, put_config, methods=["PUT"]),
    Route(CONFIG, update_config, methods=["POST"]),
    Route(CONFIG, get_config, methods=["GET"]),
    Route(CONFIG, delete_config, methods=["DELETE"]),
    Route(CONFIG + "/list", list_configs, methods=["GET"]),
    Route("/_firebox/queue", queue_stats, methods=["GET"]),
]

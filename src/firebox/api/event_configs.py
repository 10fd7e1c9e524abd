"""Routes of the FunctionEventInvokeConfig operations and firebox's queue statistics."""

from __future__ import annotations

import uuid
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import max_items, parse_json_body
from firebox.api.responses import aws_json
from firebox.control.event_configs import EventConfigChange
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict

CONFIG = "/2019-09-25/functions/{name}/event-invoke-config"


def _change(body: JSONDict) -> EventConfigChange:
    """The members a Put/UpdateFunctionEventInvokeConfig body gives."""
    change = EventConfigChange()
    for key, field, member in (
        ("MaximumRetryAttempts", "maximum_retry_attempts", "maximumRetryAttempts"),
        ("MaximumEventAgeInSeconds", "maximum_event_age", "maximumEventAgeInSeconds"),
    ):
        if key in body:
            change = replace(change, **{field: parsing.typed(body, key, int, member)})
    targets = body.get("DestinationConfig")
    if targets is not None:
        if not isinstance(targets, dict):
            raise InvalidParameterValueException("DestinationConfig must be an object.")
        for member, field in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            if member in targets:
                entry = targets[member] or {}
                if not isinstance(entry, dict):
                    raise InvalidParameterValueException(
                        f"DestinationConfig.{member} must be an object with a Destination."
                    )
                target = entry.get("Destination")
                if target is not None and not isinstance(target, str):
                    raise InvalidParameterValueException("The destination must be an ARN.")
                change = replace(change, **{field: target or None})  # type: ignore[arg-type]
    return change


async def put_config(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.event_configs.put(function_ref(request), _change(body))
    return aws_json(shapes.event_invoke_config(config, platform.arns))


async def update_config(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.event_configs.update(function_ref(request), _change(body))
    return aws_json(shapes.event_invoke_config(config, platform.arns))


async def get_config(request: Request) -> Response:
    platform = _platform(request)
    return aws_json(
        shapes.event_invoke_config(platform.event_configs.get(function_ref(request)), platform.arns)
    )


async def delete_config(request: Request) -> Response:
    await _platform(request).event_configs.delete(function_ref(request))
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def list_configs(request: Request) -> Response:
    platform = _platform(request)
    configs = platform.event_configs.list(function_ref(request))
    limit = max_items(request.query_params.get("MaxItems"), default=50)
    start = int(request.query_params.get("Marker") or 0)
    page = configs[start : start + limit]
    body: dict[str, object] = {
        "FunctionEventInvokeConfigs": [shapes.event_invoke_config(c, platform.arns) for c in page]
    }
    if start + limit < len(configs):
        body["NextMarker"] = str(start + limit)
    return aws_json(body)


async def queue_stats(request: Request) -> Response:
    stats = await _platform(request).async_invoker.stats()
    return aws_json({"Functions": stats})


routes = [
    Route(CONFIG, put_config, methods=["PUT"]),
    Route(CONFIG, update_config, methods=["POST"]),
    Route(CONFIG, get_config, methods=["GET"]),
    Route(CONFIG, delete_config, methods=["DELETE"]),
    Route(CONFIG + "/list", list_configs, methods=["GET"]),
    Route("/_firebox/queue", queue_stats, methods=["GET"]),
]

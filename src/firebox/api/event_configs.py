"""Routes of the FunctionEventInvokeConfig operations and firebox's queue statistics."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import max_items, parse_json_body
from firebox.api.responses import aws_json

CONFIG = "/2019-09-25/functions/{name}/event-invoke-config"


async def put_config(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.event_configs.put(function_ref(request), body)
    return aws_json(config.as_json(platform.arns))


async def update_config(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.event_configs.update(function_ref(request), body)
    return aws_json(config.as_json(platform.arns))


async def get_config(request: Request) -> Response:
    platform = _platform(request)
    return aws_json(platform.event_configs.get(function_ref(request)).as_json(platform.arns))


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
        "FunctionEventInvokeConfigs": [c.as_json(platform.arns) for c in page]
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

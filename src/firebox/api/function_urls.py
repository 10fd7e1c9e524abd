"""Routes of the function URL config operations."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import parse_json_body
from firebox.api.responses import aws_json
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict

URL = "/2021-10-31/functions/{name}/url"


def _members(body: JSONDict, defaults: dict[str, str]) -> dict[str, Any]:
    """AuthType, Cors and InvokeMode as the service's arguments (absent: the defaults)."""
    auth = parsing.typed(body, "AuthType", str, "authType") or defaults.get("AuthType")
    mode = parsing.typed(body, "InvokeMode", str, "invokeMode") or defaults.get("InvokeMode")
    cors = body.get("Cors")
    if cors is not None and not isinstance(cors, dict):
        raise InvalidParameterValueException("Cors must be an object.")
    return {"auth_type": auth, "cors": cors, "invoke_mode": mode}


async def create_url(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.function_urls.create(
        function_ref(request), **_members(body, {"AuthType": "NONE", "InvokeMode": "BUFFERED"})
    )
    shape = shapes.url_config(config, platform.arns, platform.function_urls.url(config))
    shape.pop("LastModifiedTime")  # not in CreateFunctionUrlConfig's answer
    return aws_json(shape, 201)


async def get_url(request: Request) -> Response:
    platform = _platform(request)
    config = platform.function_urls.get(function_ref(request))
    return aws_json(shapes.url_config(config, platform.arns, platform.function_urls.url(config)))


async def update_url(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.function_urls.update(function_ref(request), **_members(body, {}))
    return aws_json(shapes.url_config(config, platform.arns, platform.function_urls.url(config)))


async def delete_url(request: Request) -> Response:
    await _platform(request).function_urls.delete(function_ref(request))
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def list_urls(request: Request) -> Response:
    platform = _platform(request)
    urls = platform.function_urls
    items = [
        shapes.url_config(c, platform.arns, urls.url(c)) for c in urls.list(function_ref(request))
    ]
    return aws_json({"FunctionUrlConfigs": items})


routes = [
    Route(URL, create_url, methods=["POST"]),
    Route(URL, get_url, methods=["GET"]),
    Route(URL, update_url, methods=["PUT"]),
    Route(URL, delete_url, methods=["DELETE"]),
    Route("/2021-10-31/functions/{name}/urls", list_urls, methods=["GET"]),
]

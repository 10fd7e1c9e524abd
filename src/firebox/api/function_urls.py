"""Routes of the function URL config operations."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.domain.types import JSONDict

URL = "/2021-10-31/functions/{FunctionName}/url"


def _members(body: JSONDict, defaults: dict[str, str]) -> dict[str, Any]:
    """AuthType, Cors and InvokeMode as the service's arguments (absent: the defaults)."""
    return {
        "auth_type": body.get("AuthType") or defaults.get("AuthType"),
        "cors": body.get("Cors"),
        "invoke_mode": body.get("InvokeMode") or defaults.get("InvokeMode"),
    }


@operation("CreateFunctionUrlConfig")
async def create_url(call: Call) -> Response:
    platform = call.platform
    config = await platform.function_urls.create(
        call.function_ref(), **_members(call.params, {"AuthType": "NONE", "InvokeMode": "BUFFERED"})
    )
    shape = shapes.url_config(config, platform.arns, platform.function_urls.url(config))
    shape.pop("LastModifiedTime")  # not in CreateFunctionUrlConfig's answer
    return aws_json(shape, 201)


@operation("GetFunctionUrlConfig")
async def get_url(call: Call) -> Response:
    platform = call.platform
    config = platform.function_urls.get(call.function_ref())
    return aws_json(shapes.url_config(config, platform.arns, platform.function_urls.url(config)))


@operation("UpdateFunctionUrlConfig")
async def update_url(call: Call) -> Response:
    platform = call.platform
    config = await platform.function_urls.update(call.function_ref(), **_members(call.params, {}))
    return aws_json(shapes.url_config(config, platform.arns, platform.function_urls.url(config)))


@operation("DeleteFunctionUrlConfig")
async def delete_url(call: Call) -> Response:
    await call.platform.function_urls.delete(call.function_ref())
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("ListFunctionUrlConfigs")
async def list_urls(call: Call) -> Response:
    platform = call.platform
    urls = platform.function_urls
    items = [
        shapes.url_config(c, platform.arns, urls.url(c)) for c in urls.list(call.function_ref())
    ]
    return aws_json({"FunctionUrlConfigs": items})


routes = [
    Route(URL, create_url, methods=["POST"]),
    Route(URL, get_url, methods=["GET"]),
    Route(URL, update_url, methods=["PUT"]),
    Route(URL, delete_url, methods=["DELETE"]),
    Route("/2021-10-31/functions/{FunctionName}/urls", list_urls, methods=["GET"]),
]

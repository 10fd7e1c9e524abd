"""Routes of the function URL config operations."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import parse_json_body
from firebox.api.responses import aws_json

URL = "/2021-10-31/functions/{name}/url"


async def create_url(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.function_urls.create(function_ref(request), body)
    shape = config.as_json(platform.arns, platform.function_urls.url(config))
    shape.pop("LastModifiedTime")  # not in CreateFunctionUrlConfig's answer
    return aws_json(shape, 201)


async def get_url(request: Request) -> Response:
    platform = _platform(request)
    config = platform.function_urls.get(function_ref(request))
    return aws_json(config.as_json(platform.arns, platform.function_urls.url(config)))


async def update_url(request: Request) -> Response:
    platform = _platform(request)
    body = parse_json_body(await request.body())
    config = await platform.function_urls.update(function_ref(request), body)
    return aws_json(config.as_json(platform.arns, platform.function_urls.url(config)))


async def delete_url(request: Request) -> Response:
    await _platform(request).function_urls.delete(function_ref(request))
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def list_urls(request: Request) -> Response:
    platform = _platform(request)
    urls = platform.function_urls
    items = [c.as_json(platform.arns, urls.url(c)) for c in urls.list(function_ref(request))]
    return aws_json({"FunctionUrlConfigs": items})


routes = [
    Route(URL, create_url, methods=["POST"]),
    Route(URL, get_url, methods=["GET"]),
    Route(URL, update_url, methods=["PUT"]),
    Route(URL, delete_url, methods=["DELETE"]),
    Route("/2021-10-31/functions/{name}/urls", list_urls, methods=["GET"]),
]

"""Serving HTTP: function URLs (host- or path-based) and HTTP API routes under a prefix."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from firebox.api import shapes
from firebox.api.functions import _platform
from firebox.api.operation import BodyTooLarge, Call, operation, read_body, signed_request
from firebox.api.responses import aws_json
from firebox.auth.errors import AuthError
from firebox.control.function_urls import FunctionUrl
from firebox.control.http_routes import Target
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    LambdaError,
    TooManyRequestsException,
)
from firebox.domain.records import LATEST
from firebox.iam.authorizer import AccessDenied
from firebox.invoke import http_events
from firebox.invoke.http_events import HttpRequest, HttpResponse

MAX_BODY = 6 * 1024 * 1024
HOST_RE = re.compile(r"^([a-z0-9]{32})\.lambda-url\.[a-z0-9-]+\.localhost(?::\d+)?$")
PATH_PREFIX = "/lambda-url/"
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _json(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status, media_type="application/json")


def _to_response(mapped: HttpResponse) -> Response:
    response = Response(mapped.body, mapped.status)
    del response.headers["content-length"]
    for name, value in mapped.headers:
        response.raw_headers.append((name.lower().encode(), value.encode()))
    response.raw_headers.append((b"content-length", str(len(mapped.body)).encode()))
    return response


async def _read(request: Request, path: str) -> HttpRequest | Response:
    try:
        body = await read_body(request, MAX_BODY)
    except BodyTooLarge:
        return _json(413, "Request Entity Too Large")
    host = request.headers.get("host", "localhost").split(":", 1)[0]
    client = request.client.host if request.client else "127.0.0.1"
    headers = list(request.headers.items())
    return HttpRequest(request.method, path or "/", request.url.query, headers, body, client, host)


async def _invoke(
    request: Request, ref: FunctionRef, event: dict[str, Any], version: str
) -> HttpResponse:
    payload = json.dumps(event).encode()
    if len(payload) > MAX_BODY:
        return http_events.HttpResponse(413, [("content-type", "application/json")],
                                        b'{"message":"Request Entity Too Large"}')  # fmt: skip
    try:
        result = await _platform(request).invokes.invoke(ref, payload)
    except TooManyRequestsException:
        return http_events.HttpResponse(429, [("content-type", "application/json")],
                                        b'{"message":"Too Many Requests"}')  # fmt: skip
    except LambdaError:
        return http_events.BAD_GATEWAY
    failed = http_events.error_response(result.function_error, result.payload)
    if failed is not None:
        return failed
    if version == "1.0":
        return http_events.response_v1(result.payload)
    return http_events.response_v2(result.payload)


def _cors_headers(config: FunctionUrl, origin: str | None) -> list[tuple[str, str]]:
    cors = config.cors
    if not cors or origin is None:
        return []
    origins = [str(o) for o in cors.get("AllowOrigins", []) or []]  # type: ignore[attr-defined]
    if "*" not in origins and origin not in origins:
        return []
    headers = [("access-control-allow-origin", "*" if "*" in origins else origin)]
    if cors.get("AllowCredentials"):
        headers.append(("access-control-allow-credentials", "true"))
    if cors.get("ExposeHeaders"):
        headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))  # type: ignore[arg-type]
    return headers


async def serve_url(request: Request, url_id: str, path: str) -> Response:
    """One request to a function URL: CORS preflight here, everything else to the function."""
    config = _platform(request).function_urls.lookup(url_id)
    if config is None:
        return _json(404, "Not Found")
    origin = request.headers.get("origin")
    cors = _cors_headers(config, origin)
    if (
        request.method == "OPTIONS"
        and config.cors
        and "access-control-request-method" in request.headers
    ):
        methods = [str(m) for m in config.cors.get("AllowMethods", []) or ["*"]]  # type: ignore[attr-defined]
        allowed = [str(h) for h in config.cors.get("AllowHeaders", []) or []]  # type: ignore[attr-defined]
        preflight = HttpResponse(
            200,
            [
                *cors,
                ("access-control-allow-methods", ",".join(methods)),
                ("access-control-allow-headers", ",".join(allowed)),
                ("access-control-max-age", str(config.cors.get("MaxAge", 0) or 0)),
            ],
        )
        return _to_response(preflight)
    parsed = await _read(request, path)
    if isinstance(parsed, Response):
        return parsed
    qualifier = None if config.qualifier == LATEST else config.qualifier
    identity: dict[str, Any] | None = None
    if config.auth_type == "AWS_IAM":
        checked = _signed_caller(request, parsed.body, config, qualifier)
        if isinstance(checked, Response):
            return checked
        identity = checked
    target = Target(api_id=url_id)
    event = http_events.event_v2(parsed, target, _platform(request).arns.account_id)
    if identity is not None:  # who signed, as Lambda tells an AWS_IAM URL's function
        event["requestContext"]["authorizer"] = {"iam": identity}
    ref = FunctionRef(config.function_name, qualifier)
    if config.invoke_mode == "RESPONSE_STREAM":
        return await _stream(request, ref, event, cors)
    mapped = await _invoke(request, ref, event, "2.0")
    return _to_response(HttpResponse(mapped.status, mapped.headers + cors, mapped.body))


def _forbidden(message: str = "Forbidden") -> Response:
    return Response(json.dumps({"Message": message}), 403, media_type="application/json",
                    headers={"x-amzn-ErrorType": "AccessDeniedException"})  # fmt: skip


def _signed_caller(
    request: Request, body: bytes, config: FunctionUrl, qualifier: str | None
) -> dict[str, Any] | Response:
    """An AWS_IAM URL's caller: a SigV4 signature (for lambda) that the server's mode accepts,
    whose identity may invoke the URL (its role's policies or the function's resource
    policy); else the 403 Lambda answers."""
    platform = _platform(request)
    try:
        caller = platform.auth.verify(signed_request(request, body))
    except AuthError as exc:
        return _forbidden(exc.message)
    if caller is None:
        return _forbidden()
    if platform.auth.mode == "sigv4" and caller.service != "lambda":
        return _forbidden("Credential should be scoped to correct service: 'lambda'.")
    resource = platform.arns.function(config.function_name, qualifier)
    policy = platform.policies.policy_for(config.function_name, qualifier)
    try:
        platform.iam.check(caller.arn, "lambda:InvokeFunctionUrl", resource, policy,
                           {"lambda:functionurlauthtype": "AWS_IAM"})  # fmt: skip
    except AccessDenied:
        return _forbidden()
    account = caller.arn.split(":")[4] if caller.arn else platform.arns.account_id
    user_arn = caller.arn or f"arn:aws:iam::{account}:root"
    user_id = caller.access_key_id if not caller.arn else caller.arn.rsplit("/", 1)[-1]
    return {"accessKey": caller.access_key_id, "accountId": account, "callerId": user_id,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": user_arn,
            "userId": user_id}  # fmt: skip


async def _stream(
    request: Request, ref: FunctionRef, event: dict[str, Any], cors: list[tuple[str, str]]
) -> Response:
    """RESPONSE_STREAM: the handler's chunks go out as they come (200, chunked)."""
    invokes = _platform(request).invokes
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(
        invokes.invoke(ref, json.dumps(event).encode(), on_chunk=chunks.put_nowait)
    )
    task.add_done_callback(lambda _: chunks.put_nowait(None))
    first = await chunks.get()
    if first is None:  # nothing was streamed: answer as a buffered URL would
        if task.exception() is not None:
            return _to_response(http_events.BAD_GATEWAY)
        result = task.result()
        mapped = http_events.error_response(result.function_error, result.payload)
        mapped = mapped or http_events.response_v2(result.payload)
        return _to_response(HttpResponse(mapped.status, mapped.headers + cors, mapped.body))

    status, headers = 200, list(cors)
    prelude = http_events.stream_prelude(first)  # metadata from HttpResponseStream.from
    if prelude is not None:
        meta, first = prelude
        status, headers = meta.status, [*meta.headers, *cors]

    async def body() -> AsyncIterator[bytes]:
        item: bytes | None = first
        while item is not None:
            if item:
                yield item
            item = await chunks.get()

    response = StreamingResponse(body(), status, media_type=None)
    # as the buffered path sends them: UTF-8, whatever the function put in
    response.raw_headers.extend((k.lower().encode(), v.encode()) for k, v in headers)
    if "content-type" not in response.headers:
        response.headers["content-type"] = "application/octet-stream"
    return response


async def url_by_path(request: Request) -> Response:
    path = "/" + request.path_params.get("path", "")
    return await serve_url(request, request.path_params["url_id"], path)


async def serve_route(request: Request) -> Response:
    """One request under the routes prefix: the most specific matching route's function."""
    platform = _platform(request)
    path = "/" + request.path_params.get("path", "")
    found = platform.routes.match(request.method, path)
    if found is None:
        return _json(404, "Not Found")
    route, target = found
    parsed = await _read(request, path)
    if isinstance(parsed, Response):
        return parsed
    build = http_events.event_v1 if route.payload_version == "1.0" else http_events.event_v2
    event = build(parsed, target, platform.arns.account_id)
    ref = FunctionRef(route.function_name, route.qualifier)
    return _to_response(await _invoke(request, ref, event, route.payload_version))


class HostDispatch:
    """Sends requests for <url-id>.lambda-url.<region>.localhost to the function URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            match = HOST_RE.match(host)
            if match:
                request = Request(scope, receive)
                response = await serve_url(request, match[1], scope["path"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ----- the route table's admin API (used by `firebox routes`) ---------------------------------
@operation("ListRoutes", service="firebox")
async def list_routes(call: Call) -> Response:
    return aws_json({"Routes": [shapes.route(r) for r in call.platform.routes.list()]})


@operation("AddRoute", service="firebox")
async def add_route(call: Call) -> Response:
    body = call.params
    route = await call.platform.routes.add(
        body["RouteKey"], body["FunctionName"], body.get("Qualifier"),
        body.get("PayloadFormatVersion", "2.0"),
    )  # fmt: skip
    return aws_json(shapes.route(route), 201)


@operation("RemoveRoute", service="firebox")
async def remove_route(call: Call) -> Response:
    await call.platform.routes.remove(call.params["RouteId"])
    return Response(status_code=204)


def routes(http_prefix: str) -> list[Route]:
    prefix = http_prefix.rstrip("/")
    handler: Callable[[Request], Awaitable[Response]] = serve_route
    return [
        Route("/_firebox/routes", list_routes, methods=["GET"]),
        Route("/_firebox/routes", add_route, methods=["POST"]),
        Route("/_firebox/routes/{RouteId}", remove_route, methods=["DELETE"]),
        Route(PATH_PREFIX + "{url_id}/{path:path}", url_by_path, methods=ALL_METHODS),
        Route(PATH_PREFIX + "{url_id}", url_by_path, methods=ALL_METHODS),
        Route(prefix + "/{path:path}", handler, methods=ALL_METHODS),
        Route(prefix, handler, methods=ALL_METHODS),
    ]

"""Routes of reserved and provisioned concurrency."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.functions import _platform, function_ref
from firebox.api.parsing import parse_json_body
from firebox.api.responses import aws_json
from firebox.domain.arns import FunctionRef
from firebox.domain.types import JSONDict


def _count(body: JSONDict, key: str, member: str, low: int) -> int:
    """A count the request must give, as a number (its range is the core's to check)."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise parsing.constraint_error(
            value, member, f"Member must have value greater than or equal to {low}"
        )
    return value


def _no_content() -> Response:
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def put_reserved(request: Request) -> Response:
    body = parse_json_body(await request.body())
    value = _count(body, "ReservedConcurrentExecutions", "reservedConcurrentExecutions", 0)
    ref = function_ref(request)
    await _platform(request).concurrency.set_reserved(FunctionRef(ref.name), value)
    return aws_json({"ReservedConcurrentExecutions": value})


async def get_reserved(request: Request) -> Response:
    ref = function_ref(request)
    record = _platform(request).catalog.latest(FunctionRef(ref.name))
    if record.reserved_concurrency is None:
        return aws_json({})
    return aws_json({"ReservedConcurrentExecutions": record.reserved_concurrency})


async def delete_reserved(request: Request) -> Response:
    ref = function_ref(request)
    await _platform(request).concurrency.set_reserved(FunctionRef(ref.name), None)
    return _no_content()


PROVISIONED = "/2019-09-30/functions/{name}/provisioned-concurrency"


async def provisioned_get_or_list(request: Request) -> Response:
    platform = _platform(request)
    if request.query_params.get("List") == "ALL":
        configs = platform.concurrency.list(function_ref(request))
        items = [{"FunctionArn": platform.arns.function(c.function_name, c.qualifier),
                  **shapes.provisioned_config(c)} for c in configs]  # fmt: skip
        return aws_json({"ProvisionedConcurrencyConfigs": items})
    return aws_json(shapes.provisioned_config(platform.concurrency.get(function_ref(request))))


async def provisioned_put(request: Request) -> Response:
    body = parse_json_body(await request.body())
    platform = _platform(request)
    config = await platform.concurrency.put(function_ref(request), _count(
        body, "ProvisionedConcurrentExecutions", "provisionedConcurrentExecutions", 1))  # fmt: skip
    return aws_json(shapes.provisioned_config(config), 202)


async def provisioned_delete(request: Request) -> Response:
    await _platform(request).concurrency.delete(function_ref(request))
    return _no_content()


routes = [
    Route(PROVISIONED, provisioned_get_or_list, methods=["GET"]),
    Route(PROVISIONED, provisioned_put, methods=["PUT"]),
    Route(PROVISIONED, provisioned_delete, methods=["DELETE"]),
    Route("/2017-10-31/functions/{name}/concurrency", put_reserved, methods=["PUT"]),
    Route("/2019-09-30/functions/{name}/concurrency", get_reserved, methods=["GET"]),
    Route("/2017-10-31/functions/{name}/concurrency", delete_reserved, methods=["DELETE"]),
]

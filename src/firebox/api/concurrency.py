"""Routes of reserved and provisioned concurrency."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.domain.arns import FunctionRef


def _no_content() -> Response:
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("PutFunctionConcurrency")
async def put_reserved(call: Call) -> Response:
    value = call.params["ReservedConcurrentExecutions"]
    ref = call.function_ref()
    await call.platform.concurrency.set_reserved(FunctionRef(ref.name), value)
    return aws_json({"ReservedConcurrentExecutions": value})


@operation("GetFunctionConcurrency")
async def get_reserved(call: Call) -> Response:
    ref = call.function_ref()
    record = call.platform.catalog.latest(FunctionRef(ref.name))
    if record.reserved_concurrency is None:
        return aws_json({})
    return aws_json({"ReservedConcurrentExecutions": record.reserved_concurrency})


@operation("DeleteFunctionConcurrency")
async def delete_reserved(call: Call) -> Response:
    ref = call.function_ref()
    await call.platform.concurrency.set_reserved(FunctionRef(ref.name), None)
    return _no_content()


PROVISIONED = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"


@operation("ListProvisionedConcurrencyConfigs")
async def provisioned_list(call: Call) -> Response:
    platform = call.platform
    configs = platform.concurrency.list(call.function_ref())
    items = [{"FunctionArn": platform.arns.function(c.function_name, c.qualifier),
              **shapes.provisioned_config(c)} for c in configs]  # fmt: skip
    return aws_json({"ProvisionedConcurrencyConfigs": items})


@operation("GetProvisionedConcurrencyConfig")
async def provisioned_get(call: Call) -> Response:
    return aws_json(shapes.provisioned_config(call.platform.concurrency.get(call.function_ref())))


async def provisioned_get_or_list(request: Request) -> Response:
    # One path for both: ?List=ALL is the listing (as in the model's request URI).
    if request.query_params.get("List") == "ALL":
        return await provisioned_list(request)
    return await provisioned_get(request)


@operation("PutProvisionedConcurrencyConfig")
async def provisioned_put(call: Call) -> Response:
    config = await call.platform.concurrency.put(
        call.function_ref(), call.params["ProvisionedConcurrentExecutions"]
    )
    return aws_json(shapes.provisioned_config(config), 202)


@operation("DeleteProvisionedConcurrencyConfig")
async def provisioned_delete(call: Call) -> Response:
    await call.platform.concurrency.delete(call.function_ref())
    return _no_content()


routes = [
    Route(PROVISIONED, provisioned_get_or_list, methods=["GET"]),
    Route(PROVISIONED, provisioned_put, methods=["PUT"]),
    Route(PROVISIONED, provisioned_delete, methods=["DELETE"]),
    Route("/2017-10-31/functions/{FunctionName}/concurrency", put_reserved, methods=["PUT"]),
    Route("/2019-09-30/functions/{FunctionName}/concurrency", get_reserved, methods=["GET"]),
    Route("/2017-10-31/functions/{FunctionName}/concurrency", delete_reserved, methods=["DELETE"]),
]

"""Routes of the function control plane: CreateFunction … DeleteFunction, account settings."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.functions import FunctionConfig, NewFunction
from firebox.domain.records import LATEST, FunctionRecord
from firebox.domain.types import JSONDict
from firebox.platform import Platform
from firebox.worker.codestore import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES

# What a CreateFunction or UpdateFunctionCode request may carry: Lambda's own cap (a 50 MB
# zip, base64-encoded, and the configuration around it).
CODE_REQUEST_LIMIT = 70167211


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def code_location(request: Request, record: FunctionRecord) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/_firebox/code/{record.code_sha256}.zip"


def _configuration(
    request: Request, record: FunctionRecord, ref: FunctionRef | None = None
) -> JSONDict:
    # Read through an alias, a version's configuration carries the alias's ARN.
    alias = ref.qualifier if ref and ref.qualifier and not ref.qualifier.isdigit() else None
    arns = _platform(request).arns
    return shapes.function_configuration(record, arns, None if alias == LATEST else alias)


@operation("CreateFunction", max_body=CODE_REQUEST_LIMIT)
async def create_function(call: Call) -> Response:
    body, request = call.params, call.request
    ref = call.function_ref()
    if ref.qualifier is not None:
        raise InvalidParameterValueException(
            f"A new function's name cannot carry a qualifier (':{ref.qualifier}'): "
            "give the function name or its unqualified ARN."
        )
    config = parsing.function_config(body)
    code = parsing.zip_file(body, required=True)
    assert code is not None
    new = NewFunction(ref.name, config, code, body.get("Tags") or {}, body.get("Publish", False))
    record = await call.platform.functions.create(new)
    return aws_json(_configuration(request, record), 201)


@operation("ListFunctions")
async def list_functions(call: Call) -> Response:
    # Lambda returns at most 50 functions per page, even when MaxItems asks for more.
    limit = min(call.params.get("MaxItems", 50), 50)
    records, marker = call.platform.functions.list(call.params.get("Marker"), limit)
    body: JSONDict = {"Functions": [_configuration(call.request, r) for r in records]}
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


@operation("GetFunction")
async def get_function(call: Call) -> Response:
    request = call.request
    catalog = call.platform.catalog
    ref = call.function_ref()
    record = catalog.get(ref)
    body: JSONDict = {
        "Configuration": _configuration(request, record, ref),
        "Code": {"RepositoryType": "S3", "Location": code_location(request, record)},
    }
    latest = catalog.latest(FunctionRef(ref.name))
    if latest.tags:
        body["Tags"] = dict(latest.tags)
    if latest.reserved_concurrency is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": latest.reserved_concurrency}
    return aws_json(body)


@operation("GetFunctionConfiguration")
async def get_configuration(call: Call) -> Response:
    ref = call.function_ref()
    record = call.platform.catalog.get(ref)
    return aws_json(_configuration(call.request, record, ref))


@operation("UpdateFunctionConfiguration")
async def update_configuration(call: Call) -> Response:
    body = call.params
    record = await call.platform.functions.update_configuration(
        call.function_ref(), parsing.function_config(body), body.get("RevisionId")
    )
    return aws_json(_configuration(call.request, record))


@operation("UpdateFunctionCode", max_body=CODE_REQUEST_LIMIT)
async def update_code(call: Call) -> Response:
    body = call.params
    code = parsing.zip_file(body, required=False)
    if code is None:
        raise InvalidParameterValueException("Please provide a source for function code (ZipFile).")
    architectures = body.get("Architectures")
    if architectures is not None:  # may be restated, not changed
        FunctionConfig(architectures=tuple(architectures)).check()
    record = await call.platform.functions.update_code(
        call.function_ref(), code, revision_id=body.get("RevisionId"),
        publish=body.get("Publish", False), dry_run=body.get("DryRun", False),
    )  # fmt: skip
    return aws_json(_configuration(call.request, record))


@operation("DeleteFunction")
async def delete_function(call: Call) -> Response:
    await call.platform.functions.delete(call.function_ref())
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("GetAccountSettings")
async def account_settings(call: Call) -> Response:
    platform = call.platform
    count, total = platform.functions.code_totals()
    return aws_json(
        {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": platform.admission.concurrency_limit,
                "UnreservedConcurrentExecutions": platform.admission.unreserved_limit,
            },
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": count},
        }
    )


FUNCTIONS = "/2015-03-31/functions"
routes = [
    Route(FUNCTIONS, create_function, methods=["POST"]),
    Route(FUNCTIONS, list_functions, methods=["GET"]),
    Route(FUNCTIONS + "/", list_functions, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}", get_function, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}", delete_function, methods=["DELETE"]),
    Route(FUNCTIONS + "/{FunctionName}/configuration", get_configuration, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}/configuration", update_configuration, methods=["PUT"]),
    Route(FUNCTIONS + "/{FunctionName}/code", update_code, methods=["PUT"]),
    Route("/2016-08-19/account-settings", account_settings, methods=["GET"]),
    Route("/2016-08-19/account-settings/", account_settings, methods=["GET"]),
]

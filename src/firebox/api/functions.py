"""Routes of the function control plane: CreateFunction … DeleteFunction, account settings."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.parsing import max_items, parse_json_body
from firebox.api.responses import aws_json
from firebox.domain.arns import FunctionRef, parse_function_ref
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.functions import FunctionConfig, NewFunction
from firebox.domain.records import LATEST, FunctionRecord
from firebox.domain.types import JSONDict
from firebox.platform import Platform
from firebox.worker.codestore import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def function_ref(request: Request) -> FunctionRef:
    return parse_function_ref(request.path_params["name"], request.query_params.get("Qualifier"))


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


async def create_function(request: Request) -> Response:
    body = parse_json_body(await request.body())
    name = parsing.function_name(body)
    config = parsing.function_config(body)
    code = parsing.zip_file(body, required=True)
    assert code is not None
    new = NewFunction(name, config, code, parsing.tags(body.get("Tags")), bool(body.get("Publish")))
    record = await _platform(request).functions.create(new)
    return aws_json(_configuration(request, record), 201)


async def list_functions(request: Request) -> Response:
    # Lambda returns at most 50 functions per page, even when MaxItems asks for more.
    limit = min(max_items(request.query_params.get("MaxItems")), 50)
    records, marker = _platform(request).functions.list(request.query_params.get("Marker"), limit)
    body: JSONDict = {"Functions": [_configuration(request, r) for r in records]}
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


async def get_function(request: Request) -> Response:
    catalog = _platform(request).catalog
    ref = function_ref(request)
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


async def get_configuration(request: Request) -> Response:
    ref = function_ref(request)
    record = _platform(request).catalog.get(ref)
    return aws_json(_configuration(request, record, ref))


async def update_configuration(request: Request) -> Response:
    body = parse_json_body(await request.body())
    record = await _platform(request).functions.update_configuration(
        function_ref(request), parsing.function_config(body), body.get("RevisionId")
    )
    return aws_json(_configuration(request, record))


async def update_code(request: Request) -> Response:
    body = parse_json_body(await request.body())
    code = parsing.zip_file(body, required=False)
    if code is None:
        raise InvalidParameterValueException("Please provide a source for function code (ZipFile).")
    architectures = body.get("Architectures")
    if architectures is not None:  # may be restated, not changed
        FunctionConfig(architectures=tuple(architectures)).check()
    record = await _platform(request).functions.update_code(
        function_ref(request), code, revision_id=body.get("RevisionId"),
        publish=bool(body.get("Publish")), dry_run=bool(body.get("DryRun")),
    )  # fmt: skip
    return aws_json(_configuration(request, record))


async def delete_function(request: Request) -> Response:
    await _platform(request).functions.delete(function_ref(request))
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def account_settings(request: Request) -> Response:
    platform = _platform(request)
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
    Route(FUNCTIONS + "/{name}", get_function, methods=["GET"]),
    Route(FUNCTIONS + "/{name}", delete_function, methods=["DELETE"]),
    Route(FUNCTIONS + "/{name}/configuration", get_configuration, methods=["GET"]),
    Route(FUNCTIONS + "/{name}/configuration", update_configuration, methods=["PUT"]),
    Route(FUNCTIONS + "/{name}/code", update_code, methods=["PUT"]),
    Route("/2016-08-19/account-settings", account_settings, methods=["GET"]),
    Route("/2016-08-19/account-settings/", account_settings, methods=["GET"]),
]

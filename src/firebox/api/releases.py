"""Routes of versions, aliases and tags: parse, call the core, serialise."""

from __future__ import annotations

import uuid

from starlette.responses import Response
from starlette.routing import Route

from firebox.api import shapes
from firebox.api.functions import FUNCTIONS
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.releases import AliasChange
from firebox.domain.arns import FunctionRef, check_home
from firebox.domain.types import JSONDict


def _no_content() -> Response:
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _alias_ref(call: Call) -> tuple[FunctionRef, str]:
    return call.function_ref(), call.params["Name"]


def _weights(body: JSONDict) -> dict[str, float] | None:
    """RoutingConfig.AdditionalVersionWeights: None when RoutingConfig is not given."""
    routing = body.get("RoutingConfig")
    if routing is None:
        return None
    weights = routing.get("AdditionalVersionWeights") or {}  # optional, as on AWS
    return {version: float(weight) for version, weight in weights.items()}


@operation("PublishVersion")
async def publish_version(call: Call) -> Response:
    body, platform = call.params, call.platform
    record = await platform.releases.publish(
        call.function_ref(), body.get("Description"), body.get("CodeSha256"),
        body.get("RevisionId"),
    )  # fmt: skip
    return aws_json(shapes.function_configuration(record, platform.arns), 201)


@operation("ListVersionsByFunction")
async def list_versions(call: Call) -> Response:
    platform = call.platform
    limit = min(call.params.get("MaxItems", 50), 50)
    records, marker = platform.releases.list_versions(
        call.function_ref(), call.params.get("Marker"), limit
    )
    # In this listing $LATEST's ARN is qualified too, as Lambda shows it.
    versions = [shapes.function_configuration(r, platform.arns, r.version) for r in records]
    body: dict[str, object] = {"Versions": versions}
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


@operation("CreateAlias")
async def create_alias(call: Call) -> Response:
    body, platform = call.params, call.platform
    alias = await platform.releases.create_alias(
        call.function_ref(), body["Name"], body["FunctionVersion"],
        body.get("Description") or "", _weights(body),
    )  # fmt: skip
    return aws_json(shapes.alias_configuration(alias, platform.arns), 201)


@operation("ListAliases")
async def list_aliases(call: Call) -> Response:
    platform, params = call.platform, call.params
    aliases, marker = platform.releases.list_aliases(
        call.function_ref(),
        params.get("FunctionVersion"),
        params.get("Marker"),
        min(params.get("MaxItems", 50), 50),
    )
    body: dict[str, object] = {
        "Aliases": [shapes.alias_configuration(a, platform.arns) for a in aliases]
    }
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


@operation("GetAlias")
async def get_alias(call: Call) -> Response:
    platform = call.platform
    alias = platform.releases.get_alias(*_alias_ref(call))
    return aws_json(shapes.alias_configuration(alias, platform.arns))


@operation("UpdateAlias")
async def update_alias(call: Call) -> Response:
    body, platform = call.params, call.platform
    ref, name = _alias_ref(call)
    change = AliasChange(
        body.get("FunctionVersion"), body.get("Description"), _weights(body),
        body.get("RevisionId"),
    )  # fmt: skip
    alias = await platform.releases.update_alias(ref, name, change)
    return aws_json(shapes.alias_configuration(alias, platform.arns))


@operation("DeleteAlias")
async def delete_alias(call: Call) -> Response:
    await call.platform.releases.delete_alias(*_alias_ref(call))
    return _no_content()


def _resource(call: Call) -> str:
    """The ARN a tagging call names, which must be one of this server's."""
    arn: str = call.params["Resource"]
    check_home(arn, call.platform.arns, call.operation)
    return arn


@operation("ListTags")
async def list_tags(call: Call) -> Response:
    tags = call.platform.functions.list_tags(_resource(call))
    return aws_json({"Tags": tags})


@operation("TagResource")
async def tag_resource(call: Call) -> Response:
    await call.platform.functions.tag(_resource(call), call.params["Tags"])
    return _no_content()


@operation("UntagResource")
async def untag_resource(call: Call) -> Response:
    await call.platform.functions.untag(_resource(call), call.params.get("TagKeys", []))
    return _no_content()


TAGS = "/2017-03-31/tags/{Resource:path}"
routes = [
    Route(FUNCTIONS + "/{FunctionName}/versions", publish_version, methods=["POST"]),
    Route(FUNCTIONS + "/{FunctionName}/versions", list_versions, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}/aliases", create_alias, methods=["POST"]),
    Route(FUNCTIONS + "/{FunctionName}/aliases", list_aliases, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}/aliases/{Name}", get_alias, methods=["GET"]),
    Route(FUNCTIONS + "/{FunctionName}/aliases/{Name}", update_alias, methods=["PUT"]),
    Route(FUNCTIONS + "/{FunctionName}/aliases/{Name}", delete_alias, methods=["DELETE"]),
    Route(TAGS, list_tags, methods=["GET"]),
    Route(TAGS, tag_resource, methods=["POST"]),
    Route(TAGS, untag_resource, methods=["DELETE"]),
]

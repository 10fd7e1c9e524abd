"""Routes of versions, aliases and tags: parse, call the core, serialise."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing, shapes
from firebox.api.functions import FUNCTIONS, _platform, function_ref
from firebox.api.parsing import max_items, parse_json_body
from firebox.api.responses import aws_json
from firebox.control.releases import AliasChange
from firebox.domain.arns import FunctionRef, parse_function_ref
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict


def _no_content() -> Response:
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _alias_ref(request: Request) -> tuple[FunctionRef, str]:
    return parse_function_ref(request.path_params["name"]), request.path_params["alias"]


def _weights(body: JSONDict) -> dict[str, float] | None:
    """RoutingConfig.AdditionalVersionWeights: None when RoutingConfig is not given."""
    routing = body.get("RoutingConfig")
    if routing is None:
        return None
    if not isinstance(routing, dict):
        raise InvalidParameterValueException("RoutingConfig must be an object.")
    weights = routing.get("AdditionalVersionWeights") or {}  # optional, as on AWS
    if not isinstance(weights, dict):
        raise InvalidParameterValueException("AdditionalVersionWeights must be a map.")
    for weight in weights.values():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise parsing.constraint_error(
                weights, "routingConfig.additionalVersionWeights",
                "Map value must satisfy constraint: [Member must have value less than or equal "
                "to 1.0, Member must have value greater than or equal to 0.0]",
            )  # fmt: skip
    return {str(version): float(weight) for version, weight in weights.items()}


def _string(body: JSONDict, key: str, member: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise parsing.constraint_error(value, member, "Member must be a string")
    return value


async def publish_version(request: Request) -> Response:
    body = parse_json_body(await request.body())
    platform = _platform(request)
    record = await platform.releases.publish(
        function_ref(request), _string(body, "Description", "description"),
        _string(body, "CodeSha256", "codeSha256"), _string(body, "RevisionId", "revisionId"),
    )  # fmt: skip
    return aws_json(shapes.function_configuration(record, platform.arns), 201)


async def list_versions(request: Request) -> Response:
    platform = _platform(request)
    limit = min(max_items(request.query_params.get("MaxItems")), 50)
    records, marker = platform.releases.list_versions(
        function_ref(request), request.query_params.get("Marker"), limit
    )
    # In this listing $LATEST's ARN is qualified too, as Lambda shows it.
    versions = [shapes.function_configuration(r, platform.arns, r.version) for r in records]
    body: dict[str, object] = {"Versions": versions}
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


async def create_alias(request: Request) -> Response:
    body = parse_json_body(await request.body())
    platform = _platform(request)
    name = body.get("Name")
    if not isinstance(name, str):
        raise parsing.constraint_error(name, "name", "Member must not be null")
    version = body.get("FunctionVersion")
    if not isinstance(version, str):
        raise parsing.constraint_error(version, "functionVersion", "Member must not be null")
    alias = await platform.releases.create_alias(
        function_ref(request), name, version,
        _string(body, "Description", "description") or "", _weights(body),
    )  # fmt: skip
    return aws_json(shapes.alias_configuration(alias, platform.arns), 201)


async def list_aliases(request: Request) -> Response:
    platform = _platform(request)
    aliases, marker = platform.releases.list_aliases(
        function_ref(request),
        request.query_params.get("FunctionVersion"),
        request.query_params.get("Marker"),
        min(max_items(request.query_params.get("MaxItems")), 50),
    )
    body: dict[str, object] = {
        "Aliases": [shapes.alias_configuration(a, platform.arns) for a in aliases]
    }
    if marker:
        body["NextMarker"] = marker
    return aws_json(body)


async def get_alias(request: Request) -> Response:
    platform = _platform(request)
    alias = platform.releases.get_alias(*_alias_ref(request))
    return aws_json(shapes.alias_configuration(alias, platform.arns))


async def update_alias(request: Request) -> Response:
    body = parse_json_body(await request.body())
    platform = _platform(request)
    ref, name = _alias_ref(request)
    change = AliasChange(
        _string(body, "FunctionVersion", "functionVersion"),
        _string(body, "Description", "description"), _weights(body),
        _string(body, "RevisionId", "revisionId"),
    )  # fmt: skip
    alias = await platform.releases.update_alias(ref, name, change)
    return aws_json(shapes.alias_configuration(alias, platform.arns))


async def delete_alias(request: Request) -> Response:
    await _platform(request).releases.delete_alias(*_alias_ref(request))
    return _no_content()


async def list_tags(request: Request) -> Response:
    tags = _platform(request).functions.list_tags(request.path_params["arn"])
    return aws_json({"Tags": tags})


async def tag_resource(request: Request) -> Response:
    body = parse_json_body(await request.body())
    tags = parsing.tags(body.get("Tags"))
    await _platform(request).functions.tag(request.path_params["arn"], tags)
    return _no_content()


async def untag_resource(request: Request) -> Response:
    keys = request.query_params.getlist("tagKeys")
    await _platform(request).functions.untag(request.path_params["arn"], keys)
    return _no_content()


TAGS = "/2017-03-31/tags/{arn:path}"
routes = [
    Route(FUNCTIONS + "/{name}/versions", publish_version, methods=["POST"]),
    Route(FUNCTIONS + "/{name}/versions", list_versions, methods=["GET"]),
    Route(FUNCTIONS + "/{name}/aliases", create_alias, methods=["POST"]),
    Route(FUNCTIONS + "/{name}/aliases", list_aliases, methods=["GET"]),
    Route(FUNCTIONS + "/{name}/aliases/{alias}", get_alias, methods=["GET"]),
    Route(FUNCTIONS + "/{name}/aliases/{alias}", update_alias, methods=["PUT"]),
    Route(FUNCTIONS + "/{name}/aliases/{alias}", delete_alias, methods=["DELETE"]),
    Route(TAGS, list_tags, methods=["GET"]),
    Route(TAGS, tag_resource, methods=["POST"]),
    Route(TAGS, untag_resource, methods=["DELETE"]),
]

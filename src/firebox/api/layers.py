"""Routes of layers: PublishLayerVersion … GetLayerVersionPolicy (Lambda's 2018-10-31 API)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import parsing
from firebox.api.functions import CODE_REQUEST_LIMIT
from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.policies import Permission
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.layers import LayerVersion, NewLayerVersion
from firebox.domain.records import iso_timestamp
from firebox.domain.types import JSONDict

LAYERS = "/2018-10-31/layers"
VERSION = LAYERS + "/{LayerName}/versions/{VersionNumber}"


def _version_item(call: Call, layer: LayerVersion) -> JSONDict:
    """A LayerVersionsListItem: what lists show of a version."""
    arns = call.platform.arns
    item: JSONDict = {
        "LayerVersionArn": arns.layer_version(layer.name, layer.version),
        "Version": layer.version,
        "Description": layer.description,
        "CreatedDate": iso_timestamp(layer.created),
        "CompatibleRuntimes": list(layer.compatible_runtimes),
        "CompatibleArchitectures": list(layer.compatible_architectures),
    }
    if layer.license_info:
        item["LicenseInfo"] = layer.license_info
    return item


def _version(call: Call, layer: LayerVersion) -> JSONDict:
    """What Publish/Get answer: the list item, the layer's ARN and the content."""
    base = str(call.request.base_url).rstrip("/")
    return {
        **_version_item(call, layer),
        "LayerArn": call.platform.arns.layer(layer.name),
        "Content": {
            "Location": f"{base}/_firebox/code/{layer.code_sha256}.zip",
            "CodeSha256": base64.b64encode(bytes.fromhex(layer.code_sha256)).decode(),
            "CodeSize": layer.code_size,
        },
    }


def _page(items: Sequence[JSONDict], marker: str | None, limit: int | None, key: str) -> JSONDict:
    """One page of a listing; the marker is the position the next page starts at."""
    start = 0
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidParameterValueException(f"Invalid marker: {marker}") from None
    if start < 0:
        raise InvalidParameterValueException(f"Invalid marker: {marker}")
    size = limit or 50
    out: JSONDict = {key: list(items[start : start + size])}
    if start + size < len(items):
        out["NextMarker"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _content(params: JSONDict) -> bytes:
    """The zip PublishLayerVersion's Content carries (base64 on the wire, as botocore sends)."""
    content = params["Content"]
    if any(k in content for k in ("S3Bucket", "S3Key", "S3ObjectVersion")):
        raise InvalidParameterValueException(
            "Only ZipFile content is supported by firebox: S3Bucket/S3Key are not."
        )
    encoded = content.get("ZipFile")
    if not encoded:
        raise InvalidParameterValueException("Please provide a source for layer content (ZipFile).")
    return parsing.decode_zip(encoded)


@operation("PublishLayerVersion", max_body=CODE_REQUEST_LIMIT)
async def publish(call: Call) -> Response:
    p = call.params
    new = NewLayerVersion(
        name=p["LayerName"], code=_content(p), description=p.get("Description", ""),
        license_info=p.get("LicenseInfo", ""),
        compatible_runtimes=tuple(p.get("CompatibleRuntimes", ())),
        compatible_architectures=tuple(p.get("CompatibleArchitectures", ())),
    )  # fmt: skip
    layer = await call.platform.layers.publish(new)
    return aws_json(_version(call, layer), 201)


@operation("GetLayerVersion")
async def get_version(call: Call) -> Response:
    layer = call.platform.layers.get(call.params["LayerName"], call.params["VersionNumber"])
    return aws_json(_version(call, layer))


@operation("GetLayerVersionByArn")
async def get_by_arn(call: Call) -> Response:
    return aws_json(_version(call, call.platform.layers.get_by_arn(call.params["Arn"])))


@operation("ListLayers")
async def list_layers(call: Call) -> Response:
    p = call.params
    found = call.platform.layers.layers(p.get("CompatibleRuntime"), p.get("CompatibleArchitecture"))
    arns = call.platform.arns
    items = [
        {"LayerName": layer.name, "LayerArn": arns.layer(layer.name),
         "LatestMatchingVersion": _version_item(call, layer)}
        for layer in found
    ]  # fmt: skip
    return aws_json(_page(items, p.get("Marker"), p.get("MaxItems"), "Layers"))


async def layers_root(request: Request) -> Response:
    """GET /layers is ListLayers, or GetLayerVersionByArn with ?find=LayerVersion."""
    if request.query_params.get("find") == "LayerVersion":
        return await get_by_arn(request)
    return await list_layers(request)


layers_root.operations = ("ListLayers", "GetLayerVersionByArn")  # type: ignore[attr-defined]


@operation("ListLayerVersions")
async def list_versions(call: Call) -> Response:
    p = call.params
    found = call.platform.layers.versions(
        p["LayerName"], p.get("CompatibleRuntime"), p.get("CompatibleArchitecture")
    )
    items = [_version_item(call, layer) for layer in found]
    return aws_json(_page(items, p.get("Marker"), p.get("MaxItems"), "LayerVersions"))


@operation("DeleteLayerVersion")
async def delete_version(call: Call) -> Response:
    await call.platform.layers.delete(call.params["LayerName"], call.params["VersionNumber"])
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("AddLayerVersionPermission")
async def add_permission(call: Call) -> Response:
    p = call.params
    permission = Permission(
        p["StatementId"], p["Action"], p["Principal"], principal_org_id=p.get("OrganizationId")
    )
    added, revision = await call.platform.layers.add_permission(
        p["LayerName"], p["VersionNumber"], permission, p.get("RevisionId")
    )
    body = {"Statement": json.dumps(added, separators=(",", ":")), "RevisionId": revision}
    return aws_json(body, 201)


@operation("RemoveLayerVersionPermission")
async def remove_permission(call: Call) -> Response:
    p = call.params
    await call.platform.layers.remove_permission(
        p["LayerName"], p["VersionNumber"], p["StatementId"], p.get("RevisionId")
    )
    return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})


@operation("GetLayerVersionPolicy")
async def get_policy(call: Call) -> Response:
    policy, revision = call.platform.layers.policy(
        call.params["LayerName"], call.params["VersionNumber"]
    )
    return aws_json({"Policy": policy, "RevisionId": revision})


routes = [
    Route(LAYERS, layers_root, methods=["GET"]),
    Route(LAYERS + "/", layers_root, methods=["GET"]),
    Route(LAYERS + "/{LayerName}/versions", publish, methods=["POST"]),
    Route(LAYERS + "/{LayerName}/versions", list_versions, methods=["GET"]),
    Route(VERSION, get_version, methods=["GET"]),
    Route(VERSION, delete_version, methods=["DELETE"]),
    Route(VERSION + "/policy", add_permission, methods=["POST"]),
    Route(VERSION + "/policy", get_policy, methods=["GET"]),
    Route(VERSION + "/policy/{StatementId}", remove_permission, methods=["DELETE"]),
]

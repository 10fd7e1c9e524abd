"""Routes of event source mappings: Create/Get/List/Update/DeleteEventSourceMapping."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.control.event_sources import EventSourceMapping, MappingChange
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict

MAPPINGS = "/2015-03-31/event-source-mappings"


def _shape(call: Call, mapping: EventSourceMapping) -> dict[str, Any]:
    platform = call.platform
    ref = mapping.ref
    out: dict[str, Any] = {
        "UUID": mapping.uuid, "BatchSize": mapping.batch_size,
        "MaximumBatchingWindowInSeconds": mapping.window_s,
        "EventSourceArn": mapping.source_arn,
        "FunctionArn": platform.arns.function(ref.name, ref.qualifier),
        "LastModified": mapping.modified, "LastProcessingResult": mapping.last_result,
        "State": mapping.state, "StateTransitionReason": mapping.state_reason,
        "FunctionResponseTypes": list(mapping.response_types),
        "EventSourceMappingArn": platform.mappings.arn(mapping),
    }  # fmt: skip
    if mapping.filters:
        out["FilterCriteria"] = {"Filters": mapping.filters}
    if mapping.max_concurrency is not None:
        out["ScalingConfig"] = {"MaximumConcurrency": mapping.max_concurrency}
    return out


def _change(params: JSONDict) -> MappingChange:
    for unsupported in ("StartingPosition", "Topics", "Queues", "SelfManagedEventSource",
                        "SourceAccessConfigurations", "DocumentDBEventSourceConfig"):  # fmt: skip
        if unsupported in params:
            raise InvalidParameterValueException(
                f"{unsupported} is not supported for SQS event sources."
            )
    filters = params.get("FilterCriteria")
    scaling = params.get("ScalingConfig")
    return MappingChange(
        params.get("FunctionName") if "UUID" in params else None,
        params.get("BatchSize"),
        params.get("MaximumBatchingWindowInSeconds"),
        params.get("Enabled"),
        list(filters.get("Filters", [])) if isinstance(filters, dict) else None,
        # ScalingConfig {} removes the maximum, as on AWS
        scaling.get("MaximumConcurrency", 0) if isinstance(scaling, dict) else None,
        list(params["FunctionResponseTypes"]) if "FunctionResponseTypes" in params else None,
    )


@operation("CreateEventSourceMapping")
async def create_mapping(call: Call) -> Response:
    if "EventSourceArn" not in call.params:
        raise InvalidParameterValueException("EventSourceArn is required for SQS mappings.")
    call.function_ref()  # the function's name must be this server's
    mapping = await call.platform.mappings.create(
        call.params["FunctionName"], call.params["EventSourceArn"], _change(call.params)
    )
    return aws_json(_shape(call, mapping), 202)


@operation("GetEventSourceMapping")
async def get_mapping(call: Call) -> Response:
    return aws_json(_shape(call, call.platform.mappings.get(call.params["UUID"])))


@operation("ListEventSourceMappings")
async def list_mappings(call: Call) -> Response:
    found = call.platform.mappings.list(call.params.get("FunctionName"),
                                        call.params.get("EventSourceArn"))  # fmt: skip
    marker = call.params.get("Marker")
    start = 0
    if marker is not None:
        if not str(marker).isdigit():
            raise InvalidParameterValueException("Invalid marker")
        start = int(marker)
    size = call.params.get("MaxItems", 100)
    page = [_shape(call, m) for m in found[start : start + size]]
    body: dict[str, Any] = {"EventSourceMappings": page}
    if start + size < len(found):
        body["NextMarker"] = str(start + size)
    return aws_json(body)


@operation("UpdateEventSourceMapping")
async def update_mapping(call: Call) -> Response:
    if "FunctionName" in call.params:
        call.function_ref()
    mapping = await call.platform.mappings.update(call.params["UUID"], _change(call.params))
    return aws_json(_shape(call, mapping), 202)


@operation("DeleteEventSourceMapping")
async def delete_mapping(call: Call) -> Response:
    mapping = await call.platform.mappings.delete(call.params["UUID"])
    return aws_json(_shape(call, mapping), 202)


routes = [
    Route(MAPPINGS, create_mapping, methods=["POST"]),
    Route(MAPPINGS + "/", create_mapping, methods=["POST"]),
    Route(MAPPINGS, list_mappings, methods=["GET"]),
    Route(MAPPINGS + "/", list_mappings, methods=["GET"]),
    Route(MAPPINGS + "/{UUID}", get_mapping, methods=["GET"]),
    Route(MAPPINGS + "/{UUID}", update_mapping, methods=["PUT"]),
    Route(MAPPINGS + "/{UUID}", delete_mapping, methods=["DELETE"]),
]

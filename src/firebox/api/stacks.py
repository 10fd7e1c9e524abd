"""Routes of firebox's stacks (its own API: on AWS, CloudFormation's): packages uploaded,
templates planned, deployed and removed, progress streamed as JSON lines."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.stacks.engine import StackEngine, StackEvent, StackRecord
from firebox.stacks.template import check_stack_name, parse_template

STACKS = "/_firebox/stacks"
ARTIFACTS = "/_firebox/artifacts"
MAX_ARTIFACT = 262_144_000  # Lambda's unzipped limit bounds any package worth uploading


def _endpoint(request: Request) -> str:
    """The server's address, for the queue URLs and route URLs a stack records: the one it
    listens on (the same whichever name a client used), or, listening on every address,
    the one this client reached."""
    settings = request.app.state.platform.settings
    if settings.host not in ("0.0.0.0", "::", ""):
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        return f"http://{host}:{settings.port}"
    reached = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{reached}"


def stack_shape(record: StackRecord) -> dict[str, Any]:
    return {
        "StackName": record.name,
        "StackStatus": record.status,
        "StackStatusReason": record.reason,
        "CreationTime": record.created,
        "LastUpdatedTime": record.updated,
        "Resources": [
            {"LogicalResourceId": a.logical_id, "PhysicalResourceId": a.physical_id,
             "ResourceType": a.type,
             "ResourceStatus": "SKIPPED" if a.attributes.get("Skipped") else "COMPLETE",
             "Attributes": {k: v for k, v in a.attributes.items() if k != "Skipped"}}
            for a in record.resources.values()
        ],
        "Outputs": [{"OutputKey": k, "OutputValue": v["Value"], "Description": v["Description"]}
                    for k, v in record.outputs.items()],
        "Warnings": record.warnings,
    }  # fmt: skip


def _camel(fields: dict[str, Any]) -> dict[str, Any]:
    """logical_id → LogicalId; empty members left out."""
    return {"".join(p.title() for p in k.split("_")): v for k, v in fields.items() if v != ""}


def _event(event: StackEvent) -> dict[str, Any]:
    return {"Event": _camel(asdict(event))}


def _streamed(run: Callable[[Callable[[StackEvent], None]], Awaitable[StackRecord]]) -> Response:
    """Progress as JSON lines, then the stack (or the error). The operation runs as its own
    task: a client that goes away does not stop a deploy half-way."""
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def operate() -> None:
        try:
            record = await run(lambda event: lines.put_nowait(_event(event)))
            lines.put_nowait({"Stack": stack_shape(record)})
        except Exception as exc:  # a refusal before anything changed (a template error)
            lines.put_nowait({"Error": {"Code": getattr(exc, "error_type", type(exc).__name__),
                                        "Message": getattr(exc, "message", str(exc))}})  # fmt: skip
        finally:
            lines.put_nowait(None)

    task = asyncio.get_running_loop().create_task(operate())
    _running.add(task)
    task.add_done_callback(_running.discard)

    async def body() -> AsyncIterator[bytes]:
        while (line := await lines.get()) is not None:
            yield (json.dumps(line) + "\n").encode()

    return StreamingResponse(body(), media_type="application/x-ndjson")


_running: set[asyncio.Task[None]] = set()  # held: a task nobody references may be collected


def _engine(call: Call) -> StackEngine:
    return call.platform.stacks


@operation("PutArtifact", service="firebox", max_body=MAX_ARTIFACT)
async def put_artifact(call: Call) -> Response:
    artifacts = call.platform.artifacts
    await asyncio.to_thread(artifacts.put, call.params["Sha256"], call.params["Body"])
    return aws_json({"Sha256": call.params["Sha256"]}, 201)


@operation("FindMissingArtifacts", service="firebox")
async def find_missing(call: Call) -> Response:
    artifacts = call.platform.artifacts
    return aws_json({"Missing": [s for s in call.params["Sha256s"] if not artifacts.has(s)]})


@operation("ListStacks", service="firebox")
async def list_stacks(call: Call) -> Response:
    engine = _engine(call)
    summaries = []
    for name in engine.names():
        record = engine.get(name)
        summaries.append({"StackName": name, "StackStatus": record.status,
                          "LastUpdatedTime": record.updated,
                          "ResourceCount": len(record.resources)})  # fmt: skip
    return aws_json({"Stacks": summaries})


@operation("GetStack", service="firebox")
async def get_stack(call: Call) -> Response:
    return aws_json(stack_shape(_engine(call).get(call.params["StackName"])))


@operation("PlanStack", service="firebox")
async def plan_stack(call: Call) -> Response:
    name, doc = call.params["StackName"], call.params["Template"]
    changes = _engine(call).plan(name, doc, _endpoint(call.request))
    return aws_json({"Changes": [_camel(asdict(c)) for c in changes]})  # fmt: skip


@operation("DeployStack", service="firebox")
async def deploy_stack(call: Call) -> Response:
    name, doc = call.params["StackName"], call.params["Template"]
    check_stack_name(name)
    parse_template(doc)  # a bad template is a plain error answer, before any stream begins
    engine, endpoint = _engine(call), _endpoint(call.request)
    return _streamed(lambda progress: engine.deploy(name, doc, endpoint, progress))


@operation("DeleteStack", service="firebox")
async def delete_stack(call: Call) -> Response:
    name = call.params["StackName"]
    engine, endpoint = _engine(call), _endpoint(call.request)
    engine.get(name)  # an unknown stack: a plain error answer
    return _streamed(lambda progress: engine.remove(name, endpoint, progress))


routes = [
    Route(ARTIFACTS + "/{Sha256}", put_artifact, methods=["PUT"]),
    Route(ARTIFACTS, find_missing, methods=["POST"]),
    Route(STACKS, list_stacks, methods=["GET"]),
    Route(STACKS + "/{StackName}", get_stack, methods=["GET"]),
    Route(STACKS + "/{StackName}/plan", plan_stack, methods=["POST"]),
    Route(STACKS + "/{StackName}", deploy_stack, methods=["PUT"]),
    Route(STACKS + "/{StackName}", delete_stack, methods=["DELETE"]),
]

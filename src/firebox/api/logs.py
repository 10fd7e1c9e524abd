"""A subset of the CloudWatch Logs API (JSON 1.1 at `POST /`), so `aws logs` reads firebox logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api.functions import _platform
from firebox.domain.types import JSONDict
from firebox.telemetry.logstore import LogStore

TARGET_PREFIX = "Logs_20140328."
GROUP_PREFIX = "/aws/lambda/"


class LogsError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _json11(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body).encode(), status, media_type="application/x-amz-json-1.1")


def _group(request: Request, body: JSONDict) -> str:
    group = body.get("logGroupName")
    if not isinstance(group, str):
        raise LogsError("InvalidParameterException", "logGroupName is required")
    name = group.removeprefix(GROUP_PREFIX)
    known = group.startswith(GROUP_PREFIX) and _platform(request).catalog.exists(name)
    if not known and group not in _platform(request).logs.groups():
        raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
    return group


def _pattern(raw: object) -> str | None:
    """Supports a single term or quoted phrase: the common case of CloudWatch filter patterns."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip().strip('"')


def _position(token: object) -> tuple[int, int] | None:
    """A page token: the time and id of the last event of the page before."""
    if not token or str(token).startswith("b/"):  # backward pages: not kept, from the start
        return None
    try:
        ts, _, event_id = str(token).removeprefix("f/").partition("-")
        return int(ts), int(event_id)
    except ValueError:
        raise LogsError(
            "InvalidParameterException", "The specified nextToken is invalid."
        ) from None


def _token(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


def _events(store: LogStore, group: str, body: JSONDict, default_limit: int) -> JSONDict:
    after = _position(body.get("nextToken"))
    streams = body.get("logStreamNames") or (
        [body["logStreamName"]] if "logStreamName" in body else None
    )
    page = store.filter(
        group,
        start_ms=body.get("startTime"),
        end_ms=body.get("endTime"),
        streams=streams,
        contains=_pattern(body.get("filterPattern")),
        after=after,
        limit=min(int(body.get("limit") or default_limit), 10000),
    )
    events = [
        {"logStreamName": e.log_stream, "timestamp": e.timestamp_ms, "message": e.message,
         "ingestionTime": e.ingested_ms, "eventId": str(e.event_id)}
        for e in page.events
    ]  # fmt: skip
    result: JSONDict = {"events": events, "searchedLogStreams": []}
    if page.next_position:
        result["nextToken"] = _token(page.next_position)
    return result


def filter_log_events(request: Request, body: JSONDict) -> JSONDict:
    return _events(_platform(request).logs, _group(request, body), body, 10000)


def get_log_events(request: Request, body: JSONDict) -> JSONDict:
    if "logStreamName" not in body:
        raise LogsError("InvalidParameterException", "logStreamName is required")
    result = _events(_platform(request).logs, _group(request, body), body, 10000)
    token = result.pop("nextToken", None)
    if token is None:  # the end for now: the next call starts after what was seen
        last = result["events"][-1] if result["events"] else None
        seen = str(body.get("nextToken") or "").removeprefix("f/") or "0-0"
        token = f"{last['timestamp']}-{last['eventId']}" if last else seen
    return {
        "events": result["events"],
        "nextForwardToken": f"f/{token}",
        "nextBackwardToken": "b/0",
    }


def describe_log_streams(request: Request, body: JSONDict) -> JSONDict:
    group = _group(request, body)
    streams = [
        {"logStreamName": name, "creationTime": first, "firstEventTimestamp": first,
         "lastEventTimestamp": last, "lastIngestionTime": last}
        for name, first, last in _platform(request).logs.streams(group)
    ]  # fmt: skip
    return {"logStreams": streams}


def describe_log_groups(request: Request, body: JSONDict) -> JSONDict:
    prefix = body.get("logGroupNamePrefix") or ""
    names = set(_platform(request).logs.groups())
    names.update(GROUP_PREFIX + n for n in _platform(request).catalog.names())
    return {"logGroups": [{"logGroupName": n} for n in sorted(names) if n.startswith(prefix)]}


OPERATIONS: dict[str, Callable[[Request, JSONDict], JSONDict]] = {
    "FilterLogEvents": filter_log_events,
    "GetLogEvents": get_log_events,
    "DescribeLogStreams": describe_log_streams,
    "DescribeLogGroups": describe_log_groups,
}


async def logs_api(request: Request) -> Response:
    target = request.headers.get("x-amz-target", "")
    operation = OPERATIONS.get(target.removeprefix(TARGET_PREFIX))
    if operation is None:
        return _json11(
            {"__type": "UnknownOperationException", "message": f"Unknown target {target}"}, 400
        )
    try:
        body = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return _json11(operation(request, body))
    except ValueError as exc:
        return _json11({"__type": "SerializationException", "message": str(exc)}, 400)
    except LogsError as exc:
        return _json11({"__type": exc.error_type, "message": exc.message}, 400)


routes = [Route("/", logs_api, methods=["POST"])]

"""A subset of the CloudWatch Logs API (JSON 1.1 at `POST /`), so `aws logs` reads firebox logs."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import Call, operation
from firebox.api.responses import LOGS, json11_error_response
from firebox.domain.errors import LambdaError
from firebox.domain.types import JSONDict
from firebox.platform import Platform
from firebox.telemetry.logstore import GroupExists, LogGroup, LogStore, NoSuchGroup
from firebox.telemetry.patterns import PatternError, compile_pattern

TARGET_PREFIX = "Logs_20140328."
GROUP_PREFIX = "/aws/lambda/"
GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
# What PutRetentionPolicy takes (CloudWatch Logs' values).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)  # fmt: skip


class LogsError(LambdaError):
    """An error of the CloudWatch Logs API, by its wire name."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type, self.status = error_type, status


def _json11(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body).encode(), status, media_type="application/x-amz-json-1.1",
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})  # fmt: skip


def _group(platform: Platform, body: JSONDict) -> str:
    group: str | None = body.get("logGroupName")
    if group is None:
        raise LogsError("InvalidParameterException", "logGroupName is required")
    name = group.removeprefix(GROUP_PREFIX)
    known = group.startswith(GROUP_PREFIX) and platform.catalog.exists(name)
    if not known and group not in platform.logs.groups():
        raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
    return group


def _matcher(raw: str | None) -> Callable[[str], bool] | None:
    """A filter pattern, as CloudWatch Logs reads it (InvalidParameterException if not)."""
    try:
        return compile_pattern(raw)
    except PatternError as exc:
        raise LogsError("InvalidParameterException", f"Invalid filter pattern: {exc}") from None


def _position(token: str | None) -> tuple[int, int] | None:
    """A page token: the time and id of the last event of the page before."""
    if not token or token.startswith("b/"):  # backward pages: not kept, from the start
        return None
    ts, _, event_id = token.removeprefix("f/").partition("-")
    # Tokens this API made: two numbers in SQLite's range; anything else is not one.
    if not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in (ts, event_id)):
        raise LogsError("InvalidParameterException", "The specified nextToken is invalid.")
    return int(ts), int(event_id)


def _bounded(ms: int | None) -> int | None:
    """A time in milliseconds, held to what SQLite's integers can compare with."""
    return None if ms is None else min(ms, 2**62)


def _token(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


def _events(store: LogStore, group: str, body: JSONDict, default_limit: int) -> JSONDict:
    after = _position(body.get("nextToken"))
    streams = body.get("logStreamNames") or (
        [body["logStreamName"]] if "logStreamName" in body else None
    )
    page = store.filter(
        group,
        start_ms=_bounded(body.get("startTime")),
        end_ms=_bounded(body.get("endTime")),
        streams=streams,
        match=_matcher(body.get("filterPattern")),
        after=after,
        limit=min(body.get("limit") or default_limit, 10000),
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


def _endpoint(name: str) -> Callable[[Callable[[Platform, JSONDict], JSONDict]], Any]:
    """An operation of the Logs API: checked against its model, answered in JSON 1.1."""

    def wrap(handler: Callable[[Platform, JSONDict], JSONDict]) -> Any:
        async def run(call: Call) -> Response:
            return _json11(handler(call.platform, call.params))

        run.__name__ = handler.__name__
        return operation(name, service="logs", wording=LOGS)(run)

    return wrap


@_endpoint("FilterLogEvents")
def filter_log_events(platform: Platform, body: JSONDict) -> JSONDict:
    return _events(platform.logs, _group(platform, body), body, 10000)


@_endpoint("GetLogEvents")
def get_log_events(platform: Platform, body: JSONDict) -> JSONDict:
    result = _events(platform.logs, _group(platform, body), body, 10000)
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


@_endpoint("DescribeLogStreams")
def describe_log_streams(platform: Platform, body: JSONDict) -> JSONDict:
    group = _group(platform, body)
    streams = [
        {"logStreamName": name, "creationTime": first, "firstEventTimestamp": first,
         "lastEventTimestamp": last, "lastIngestionTime": last}
        for name, first, last in platform.logs.streams(group)
    ]  # fmt: skip
    return {"logStreams": streams}


@_endpoint("DescribeLogGroups")
def describe_log_groups(platform: Platform, body: JSONDict) -> JSONDict:
    prefix = body.get("logGroupNamePrefix") or ""
    groups = {g.name: g for g in platform.logs.log_groups()}
    for name in platform.catalog.names():  # a function's group, before its first line
        groups.setdefault(GROUP_PREFIX + name, LogGroup(GROUP_PREFIX + name, 0))
    out = []
    for name in sorted(groups):
        if not name.startswith(prefix):
            continue
        group = groups[name]
        arn = (f"arn:aws:logs:{platform.settings.region}:{platform.settings.account_id}:"
               f"log-group:{name}")  # fmt: skip
        shape: JSONDict = {"logGroupName": name, "creationTime": group.created_ms,
                           "metricFilterCount": 0, "arn": f"{arn}:*", "logGroupArn": arn,
                           "storedBytes": 0, "logGroupClass": "STANDARD"}  # fmt: skip
        if group.retention_days is not None:
            shape["retentionInDays"] = group.retention_days
        out.append(shape)
    return {"logGroups": out}


def _named(body: JSONDict) -> str:
    name = str(body["logGroupName"])
    if not GROUP_NAME.match(name):
        raise LogsError("InvalidParameterException", "1 validation error detected: Value "
                        f"'{name}' at 'logGroupName' failed to satisfy constraint: Member must "
                        r"satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+")  # fmt: skip
    return name


@_endpoint("CreateLogGroup")
def create_log_group(platform: Platform, body: JSONDict) -> JSONDict:
    try:
        platform.logs.create_group(_named(body), int(time.time() * 1000))
    except GroupExists:
        raise LogsError("ResourceAlreadyExistsException",
                        "The specified log group already exists") from None  # fmt: skip
    return {}


@_endpoint("DeleteLogGroup")
def delete_log_group(platform: Platform, body: JSONDict) -> JSONDict:
    try:
        platform.logs.delete_group(str(body["logGroupName"]))
    except NoSuchGroup:
        raise _no_group() from None
    return {}


@_endpoint("PutRetentionPolicy")
def put_retention_policy(platform: Platform, body: JSONDict) -> JSONDict:
    days = int(body["retentionInDays"])
    if days not in RETENTION_DAYS:
        raise LogsError("InvalidParameterException", "1 validation error detected: Value "
                        f"'{days}' at 'retentionInDays' failed to satisfy constraint: Member "
                        "must satisfy enum value set: "
                        f"[{', '.join(str(d) for d in RETENTION_DAYS)}]")  # fmt: skip
    _set_retention(platform, str(body["logGroupName"]), days)
    return {}


@_endpoint("DeleteRetentionPolicy")
def delete_retention_policy(platform: Platform, body: JSONDict) -> JSONDict:
    _set_retention(platform, str(body["logGroupName"]), None)
    return {}


def _set_retention(platform: Platform, name: str, days: int | None) -> None:
    platform.logs_ticker.wake()  # old events go now, not at the next hourly pass
    try:
        platform.logs.set_retention(name, days)
    except NoSuchGroup:
        # A function's group exists from its creation, as Lambda's does from its first line.
        if not (name.startswith(GROUP_PREFIX) and
                platform.catalog.exists(name.removeprefix(GROUP_PREFIX))):  # fmt: skip
            raise _no_group() from None
        platform.logs.create_group(name, int(time.time() * 1000))
        platform.logs.set_retention(name, days)


def _no_group() -> LogsError:
    return LogsError("ResourceNotFoundException", "The specified log group does not exist.")


OPERATIONS: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "FilterLogEvents": filter_log_events,
    "GetLogEvents": get_log_events,
    "DescribeLogStreams": describe_log_streams,
    "DescribeLogGroups": describe_log_groups,
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
}


async def logs_api(request: Request) -> Response:
    """JSON 1.1 at `POST /`: the operation is named by the X-Amz-Target header."""
    target = request.headers.get("x-amz-target", "")
    endpoint = OPERATIONS.get(target.removeprefix(TARGET_PREFIX))
    if endpoint is None:
        return json11_error_response(
            LogsError("UnknownOperationException", f"Unknown target {target[:100]}")
        )
    return await endpoint(request)

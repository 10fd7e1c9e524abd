"""EventBridge's API: AWS JSON 1.1 at `POST /` (`X-Amz-Target: AWSEvents.<Op>`). Handlers
turn checked members into calls on the EventBridge service and its results into members."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import Call, operation
from firebox.api.paging import offset_page
from firebox.api.responses import Wording, json11_error_response
from firebox.domain.types import JSONDict
from firebox.eventbridge.errors import EventsError
from firebox.eventbridge.records import Bus, Rule, Target
from firebox.eventbridge.service import Accepted, Entry, EventService

TARGET_PREFIX = "AWSEvents."
EVENTS = Wording(
    "json", "SerializationException", "ValidationException",
    ("ValidationException", 413), ("InternalException", 500),
)  # fmt: skip
MAX_BODY = 1024 * 1024


def _json11(body: Any) -> Response:
    return Response(json.dumps(body).encode(), 200, media_type="application/x-amz-json-1.1",
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})  # fmt: skip


Handler = Callable[[EventService, JSONDict], Awaitable[JSONDict]]
OPERATIONS: dict[str, Callable[[Request], Awaitable[Response]]] = {}


def _endpoint(name: str) -> Callable[[Handler], Handler]:
    """An operation of EventBridge: checked against its model, answered in JSON 1.1."""

    def wrap(handler: Handler) -> Handler:
        async def run(call: Call) -> Response:
            return _json11(await handler(call.platform.events, call.params))

        run.__name__ = handler.__name__
        OPERATIONS[name] = operation(name, service="events", wording=EVENTS,
                                     max_body=MAX_BODY)(run)  # fmt: skip
        return handler

    return wrap


def _bus(bus: Bus) -> JSONDict:
    out: JSONDict = {"Name": bus.name, "Arn": bus.arn, "CreationTime": bus.created,
                     "LastModifiedTime": bus.created}  # fmt: skip
    if bus.description:
        out["Description"] = bus.description
    return out


def _rule(rule: Rule) -> JSONDict:
    out: JSONDict = {"Name": rule.name, "Arn": rule.arn, "State": rule.state,
                     "EventBusName": rule.bus, "CreatedBy": rule.arn.split(":")[4]}  # fmt: skip
    for key, value in (("EventPattern", rule.event_pattern), ("ScheduleExpression", rule.schedule),
                       ("Description", rule.description), ("RoleArn", rule.role_arn)):  # fmt: skip
        if value:
            out[key] = value
    return out


def _target_out(target: Target) -> JSONDict:
    out: JSONDict = {"Id": target.id, "Arn": target.arn}
    given = {"Input": target.input, "InputPath": target.input_path,
             "InputTransformer": target.input_transformer, "RoleArn": target.role_arn,
             "RetryPolicy": target.retry_policy}  # fmt: skip
    for key, value in given.items():
        if value is not None:
            out[key] = value
    if target.dead_letter_arn:
        out["DeadLetterConfig"] = {"Arn": target.dead_letter_arn}
    if target.message_group_id:
        out["SqsParameters"] = {"MessageGroupId": target.message_group_id}
    return out


def _target_in(member: JSONDict) -> Target:
    return Target(
        member["Id"], member["Arn"], member.get("Input"), member.get("InputPath"),
        member.get("InputTransformer"), member.get("RoleArn"),
        (member.get("DeadLetterConfig") or {}).get("Arn"), member.get("RetryPolicy"),
        (member.get("SqsParameters") or {}).get("MessageGroupId"),
    )  # fmt: skip


def _tags(members: JSONDict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in members.get("Tags") or ()}


def _page(items: list[Any], members: JSONDict, key: str) -> JSONDict:
    bad = EventsError("ValidationException", "The NextToken is not valid.")
    return offset_page(items, members.get("NextToken"), members.get("Limit"), key, bad)


# ----- buses ---------------------------------------------------------------------------------
@_endpoint("CreateEventBus")
async def create_event_bus(events: EventService, m: JSONDict) -> JSONDict:
    bus = await events.create_bus(m["Name"], m.get("Description") or "", _tags(m))
    return {"EventBusArn": bus.arn}


@_endpoint("DeleteEventBus")
async def delete_event_bus(events: EventService, m: JSONDict) -> JSONDict:
    await events.delete_bus(m["Name"])
    return {}


@_endpoint("DescribeEventBus")
async def describe_event_bus(events: EventService, m: JSONDict) -> JSONDict:
    return _bus(events.bus(m.get("Name")))


@_endpoint("ListEventBuses")
async def list_event_buses(events: EventService, m: JSONDict) -> JSONDict:
    buses = [_bus(b) for b in events.buses(m.get("NamePrefix") or "")]
    return _page(buses, m, "EventBuses")


# ----- rules ---------------------------------------------------------------------------------
@_endpoint("PutRule")
async def put_rule(events: EventService, m: JSONDict) -> JSONDict:
    rule = await events.put_rule(
        m["Name"], m.get("EventBusName"), m.get("EventPattern"), m.get("ScheduleExpression"),
        m.get("State"), m.get("Description"), m.get("RoleArn"), _tags(m),
    )  # fmt: skip
    return {"RuleArn": rule.arn}


@_endpoint("DescribeRule")
async def describe_rule(events: EventService, m: JSONDict) -> JSONDict:
    return _rule(events.rule(m["Name"], m.get("EventBusName")))


@_endpoint("ListRules")
async def list_rules(events: EventService, m: JSONDict) -> JSONDict:
    rules = [_rule(r) for r in events.rules(m.get("EventBusName"), m.get("NamePrefix") or "")]
    return _page(rules, m, "Rules")


@_endpoint("EnableRule")
async def enable_rule(events: EventService, m: JSONDict) -> JSONDict:
    await events.set_state(m["Name"], m.get("EventBusName"), "ENABLED")
    return {}


@_endpoint("DisableRule")
async def disable_rule(events: EventService, m: JSONDict) -> JSONDict:
    await events.set_state(m["Name"], m.get("EventBusName"), "DISABLED")
    return {}


@_endpoint("DeleteRule")
async def delete_rule(events: EventService, m: JSONDict) -> JSONDict:
    await events.delete_rule(m["Name"], m.get("EventBusName"), bool(m.get("Force")))
    return {}


@_endpoint("ListRuleNamesByTarget")
async def list_rule_names_by_target(events: EventService, m: JSONDict) -> JSONDict:
    names: list[Any] = events.rules_by_target(m["TargetArn"], m.get("EventBusName"))
    return _page(names, m, "RuleNames")


# ----- targets -------------------------------------------------------------------------------
def _failures(failures: list[Any]) -> JSONDict:
    return {"FailedEntryCount": len(failures), "FailedEntries": [
        {"TargetId": f.target_id, "ErrorCode": f.code, "ErrorMessage": f.message}
        for f in failures
    ]}  # fmt: skip


@_endpoint("PutTargets")
async def put_targets(events: EventService, m: JSONDict) -> JSONDict:
    targets = [_target_in(t) for t in m["Targets"]]
    return _failures(await events.put_targets(m["Rule"], m.get("EventBusName"), targets))


@_endpoint("RemoveTargets")
async def remove_targets(events: EventService, m: JSONDict) -> JSONDict:
    return _failures(await events.remove_targets(m["Rule"], m.get("EventBusName"), m["Ids"]))


@_endpoint("ListTargetsByRule")
async def list_targets_by_rule(events: EventService, m: JSONDict) -> JSONDict:
    targets = [_target_out(t) for t in events.rule(m["Rule"], m.get("EventBusName")).targets]
    return _page(targets, m, "Targets")


# ----- events --------------------------------------------------------------------------------
@_endpoint("PutEvents")
async def put_events(events: EventService, m: JSONDict) -> JSONDict:
    entries = [
        Entry(e.get("Source"), e.get("DetailType"), e.get("Detail"),
              tuple(e.get("Resources") or ()), e.get("Time"), e.get("EventBusName"))
        for e in m["Entries"]
    ]  # fmt: skip
    results = await events.put_events(entries)
    out = [{"EventId": r.event_id} if isinstance(r, Accepted)
           else {"ErrorCode": r.code, "ErrorMessage": r.message} for r in results]  # fmt: skip
    return {"FailedEntryCount": sum(1 for r in results if not isinstance(r, Accepted)),
            "Entries": out}  # fmt: skip


@_endpoint("TestEventPattern")
async def test_event_pattern(events: EventService, m: JSONDict) -> JSONDict:
    return {"Result": events.test_pattern(m["EventPattern"], m["Event"])}


# ----- tags ----------------------------------------------------------------------------------
@_endpoint("TagResource")
async def tag_resource(events: EventService, m: JSONDict) -> JSONDict:
    await events.tag(m["ResourceARN"], _tags(m), [])
    return {}


@_endpoint("UntagResource")
async def untag_resource(events: EventService, m: JSONDict) -> JSONDict:
    await events.tag(m["ResourceARN"], {}, list(m["TagKeys"]))
    return {}


@_endpoint("ListTagsForResource")
async def list_tags_for_resource(events: EventService, m: JSONDict) -> JSONDict:
    tags = events.tags(m["ResourceARN"])
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


async def events_api(request: Request) -> Response:
    """JSON 1.1 at `POST /`: the operation is named by the X-Amz-Target header."""
    target = request.headers.get("x-amz-target", "")
    endpoint = OPERATIONS.get(target.removeprefix(TARGET_PREFIX))
    if endpoint is None:
        return json11_error_response(
            EventsError("UnknownOperationException", f"Unknown target {target[:100]}")
        )
    return await endpoint(request)

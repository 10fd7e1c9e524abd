"""The Scheduler's API: rest-json under `/schedules` and `/schedule-groups`. Handlers turn
checked members into calls on the Scheduler service and its records into members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from firebox.api.operation import Call, operation
from firebox.api.paging import offset_page
from firebox.api.responses import Wording, aws_json
from firebox.domain.types import JSONDict
from firebox.scheduler.errors import validation
from firebox.scheduler.records import Group, Schedule
from firebox.scheduler.service import SchedulerService, Spec
from firebox.timing import expressions

SCHEDULER = Wording(
    "rest-json", "ValidationException", "ValidationException",
    ("ValidationException", 413), ("InternalServerException", 500),
)  # fmt: skip
Handler = Callable[[SchedulerService, JSONDict], Awaitable[JSONDict]]


def _endpoint(name: str) -> Callable[[Handler], Callable[..., Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[..., Awaitable[Response]]:
        async def run(call: Call) -> Response:
            return aws_json(await handler(call.platform.scheduler, call.params))

        run.__name__ = handler.__name__
        return operation(name, service="scheduler", wording=SCHEDULER)(run)

    return wrap


def _schedule(s: Schedule) -> JSONDict:
    out: JSONDict = {
        "Arn": s.arn, "GroupName": s.group, "Name": s.name, "ScheduleExpression": s.expression,
        "State": s.state, "Target": s.target, "CreationDate": s.created,
        "LastModificationDate": s.modified, "ActionAfterCompletion": s.action_after_completion,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes":
                               s.flexible_window_s // 60} if s.flexible_window_s
        else {"Mode": "OFF"},
        "ScheduleExpressionTimezone": s.timezone or "UTC",
    }  # fmt: skip
    for key, value in (("StartDate", s.start), ("EndDate", s.end),
                       ("Description", s.description), ("KmsKeyArn", s.kms_key_arn)):  # fmt: skip
        if value is not None:
            out[key] = value
    return out


def _summary(s: Schedule) -> JSONDict:
    return {"Arn": s.arn, "GroupName": s.group, "Name": s.name, "State": s.state,
            "CreationDate": s.created, "LastModificationDate": s.modified,
            "Target": {"Arn": s.target["Arn"]}}  # fmt: skip


def _group(g: Group) -> JSONDict:
    return {"Arn": g.arn, "Name": g.name, "State": g.state, "CreationDate": g.created,
            "LastModificationDate": g.modified}  # fmt: skip


def _instant(m: JSONDict, member: str) -> float | None:
    if m.get(member) is None:
        return None
    try:
        return expressions.instant(m[member])
    except expressions.ExpressionError:
        raise validation(f"Invalid {member}: {str(m[member])[:50]}") from None


def _spec(m: JSONDict) -> Spec:
    return Spec(
        m["ScheduleExpression"], m["Target"], m["FlexibleTimeWindow"],
        m.get("ScheduleExpressionTimezone"), _instant(m, "StartDate"), _instant(m, "EndDate"),
        m.get("Description"), m.get("State"), m.get("KmsKeyArn"), m.get("ActionAfterCompletion"),
    )  # fmt: skip


def _page(items: list[JSONDict], m: JSONDict, key: str) -> JSONDict:
    bad = validation("The NextToken is not valid.")
    return offset_page(items, m.get("NextToken"), m.get("MaxResults"), key, bad)


@_endpoint("CreateSchedule")
async def create_schedule(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    schedule = await scheduler.create(m["Name"], m.get("GroupName"), _spec(m))
    return {"ScheduleArn": schedule.arn}


@_endpoint("UpdateSchedule")
async def update_schedule(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    schedule = await scheduler.update(m["Name"], m.get("GroupName"), _spec(m))
    return {"ScheduleArn": schedule.arn}


@_endpoint("GetSchedule")
async def get_schedule(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    return _schedule(scheduler.schedule(m["Name"], m.get("GroupName")))


@_endpoint("DeleteSchedule")
async def delete_schedule(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    await scheduler.delete(m["Name"], m.get("GroupName"))
    return {}


@_endpoint("ListSchedules")
async def list_schedules(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    found = scheduler.schedules(m.get("GroupName"), m.get("NamePrefix") or "", m.get("State"))
    return _page([_summary(s) for s in found], m, "Schedules")


@_endpoint("CreateScheduleGroup")
async def create_schedule_group(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    tags = {t["Key"]: t["Value"] for t in m.get("Tags") or ()}
    return {"ScheduleGroupArn": (await scheduler.create_group(m["Name"], tags)).arn}


@_endpoint("GetScheduleGroup")
async def get_schedule_group(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    return _group(scheduler.group(m["Name"]))


@_endpoint("DeleteScheduleGroup")
async def delete_schedule_group(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    await scheduler.delete_group(m["Name"])
    return {}


@_endpoint("ListScheduleGroups")
async def list_schedule_groups(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    groups = [_group(g) for g in scheduler.groups(m.get("NamePrefix") or "")]
    return _page(groups, m, "ScheduleGroups")


@_endpoint("TagResource")
async def tag_resource(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    tags = {t["Key"]: t["Value"] for t in m["Tags"]}
    await scheduler.tag(m["ResourceArn"], tags, [])
    return {}


@_endpoint("UntagResource")
async def untag_resource(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    await scheduler.tag(m["ResourceArn"], {}, list(m["TagKeys"]))
    return {}


@_endpoint("ListTagsForResource")
async def list_tags_for_resource(scheduler: SchedulerService, m: JSONDict) -> JSONDict:
    tags = scheduler.tags(m["ResourceArn"])
    return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}


routes: list[BaseRoute] = [
    Route("/schedules", list_schedules, methods=["GET"]),
    Route("/schedules/{Name}", create_schedule, methods=["POST"]),
    Route("/schedules/{Name}", update_schedule, methods=["PUT"]),
    Route("/schedules/{Name}", get_schedule, methods=["GET"]),
    Route("/schedules/{Name}", delete_schedule, methods=["DELETE"]),
    Route("/schedule-groups", list_schedule_groups, methods=["GET"]),
    Route("/schedule-groups/{Name}", create_schedule_group, methods=["POST"]),
    Route("/schedule-groups/{Name}", get_schedule_group, methods=["GET"]),
    Route("/schedule-groups/{Name}", delete_schedule_group, methods=["DELETE"]),
    Route("/tags/{ResourceArn:path}", tag_resource, methods=["POST"]),
    Route("/tags/{ResourceArn:path}", untag_resource, methods=["DELETE"]),
    Route("/tags/{ResourceArn:path}", list_tags_for_resource, methods=["GET"]),
]

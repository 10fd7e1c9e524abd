"""EventBridge and the Scheduler through boto3 against a real server: PutEvents matched by
pattern to a function and a queue (with an input transformer), the documented pattern
matrix through TestEventPattern, errors that leave rules intact, a one-time schedule
invoking a function, a schedule due while the server was stopped firing once after restart,
and asynchronous invokes' destinations on a queue, a topic and a bus.

(Timing under an injected clock, daylight-saving changes and the catch-up policy are in
tests/unit/test_schedules.py: no test here waits for real minutes.)"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import RECORDER, FireboxServer, create_function, recorded_events, unique, wait_for

MATRIX = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "event_patterns.json").read_text()
)
ROLE = "arn:aws:iam::000000000000:role/scheduler"


def clients(server: FireboxServer) -> dict[str, Any]:
    kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))  # fmt: skip
    names = ("events", "scheduler", "sqs", "sns", "lambda", "logs")
    return {n: boto3.client(n, **kw) for n in names}  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    srv = FireboxServer(tmp_path_factory.mktemp("events") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def c(server: FireboxServer) -> dict[str, Any]:
    return clients(server)


def queue(c: dict[str, Any]) -> tuple[str, str]:
    url = c["sqs"].create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    return url, arn


def drain(c: dict[str, Any], url: str, count: int) -> list[str]:
    got: list[str] = []

    def enough() -> bool:
        answer = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            got.append(message["Body"])
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= count

    wait_for(enough, timeout=20)
    return got


def empty(c: dict[str, Any], url: str) -> bool:
    return not c["sqs"].receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")


def soon(seconds: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def test_put_events_to_a_function_and_a_queue_through_a_transformer(c: dict[str, Any]) -> None:
    fn = create_function(c["lambda"], RECORDER)
    fn_arn = c["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    url, q_arn = queue(c)
    rule = unique("orders")
    pattern = {"source": ["shop"], "detail": {"total": [{"numeric": [">=", 100]}]}}
    rule_arn = c["events"].put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    c["lambda"].add_permission(
        FunctionName=fn, StatementId="events", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com", SourceArn=rule_arn,
    )  # fmt: skip
    template = '{"order": <id>, "text": "order <id> from <src>", "rule": "<aws.events.rule-name>"}'
    put = c["events"].put_targets(Rule=rule, Targets=[
        {"Id": "fn", "Arn": fn_arn},
        {"Id": "q", "Arn": q_arn, "InputTransformer": {
            "InputPathsMap": {"id": "$.detail.id", "src": "$.source"}, "InputTemplate": template}},
    ])  # fmt: skip
    assert put["FailedEntryCount"] == 0
    answer = c["events"].put_events(Entries=[
        {"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"id": 7, "total": 250}),
         "Resources": ["arn:aws:shop:order/7"]},
        {"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"id": 8, "total": 5})},
        {"Source": "shop", "DetailType": "Order", "Detail": "not json"},
        {"Source": "shop", "DetailType": "Order", "Detail": "{}", "EventBusName": "nope"},
    ])  # fmt: skip
    assert answer["FailedEntryCount"] == 2
    assert answer["Entries"][2] == {"ErrorCode": "MalformedDetail",
                                    "ErrorMessage": "Detail is malformed."}  # fmt: skip
    assert answer["Entries"][3]["ErrorCode"] == "ResourceNotFoundException"
    assert json.loads(drain(c, url, 1)[0]) == {"order": 7, "text": "order 7 from shop",
                                               "rule": rule}  # fmt: skip
    events = wait_for(lambda: recorded_events(c["logs"], fn))
    event = events[0]
    assert event["id"] == answer["Entries"][0]["EventId"]
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "shop",
        "Order",
        {"id": 7, "total": 250},
    )
    assert event["resources"] == ["arn:aws:shop:order/7"] and event["version"] == "0"
    assert event["account"] == "000000000000" and event["region"] == "us-east-1"
    assert empty(c, url)  # the small order matched nothing
    assert len(recorded_events(c["logs"], fn)) == 1


def test_documented_pattern_matrix_through_test_event_pattern(c: dict[str, Any]) -> None:
    event = json.dumps(MATRIX["event"])
    for case in MATRIX["cases"]:
        result = c["events"].test_event_pattern(EventPattern=json.dumps(case["pattern"]),
                                                Event=event)["Result"]  # fmt: skip
        assert result is case["matches"], case["pattern"]
    for pattern in MATRIX["invalid"]:
        with pytest.raises(c["events"].exceptions.InvalidEventPatternException):
            c["events"].test_event_pattern(EventPattern=json.dumps(pattern), Event=event)
    with pytest.raises(ClientError) as bad_event:
        c["events"].test_event_pattern(EventPattern='{"source": ["a"]}', Event='{"source": "a"}')
    assert bad_event.value.response["Error"]["Code"] == "ValidationException"


def test_bad_input_gets_eventbridge_errors_and_changes_nothing(c: dict[str, Any]) -> None:
    ev = c["events"]
    rule = unique("r")
    ev.put_rule(Name=rule, EventPattern='{"source": ["a"]}', Description="kept")
    _, q_arn = queue(c)
    ev.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": q_arn}])
    failures: list[tuple[Any, str]] = [
        (lambda: ev.put_rule(Name=rule, EventPattern='{"source": "a"}'),
         "InvalidEventPatternException"),
        (lambda: ev.put_rule(Name=rule, ScheduleExpression="rate(1 minutes)"),
         "ValidationException"),
        (lambda: ev.put_rule(Name=rule), "ValidationException"),
        (lambda: ev.delete_rule(Name=rule), "ValidationException"),  # it has targets
        (lambda: ev.describe_rule(Name="missing"), "ResourceNotFoundException"),
        (lambda: ev.put_targets(Rule="missing", Targets=[{"Id": "q", "Arn": q_arn}]),
         "ResourceNotFoundException"),
        (lambda: ev.create_event_bus(Name="default"), "ResourceAlreadyExistsException"),
        (lambda: ev.delete_event_bus(Name="default"), "ValidationException"),
    ]  # fmt: skip
    for call, code in failures:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == code
    bad = ev.put_targets(Rule=rule, Targets=[
        {"Id": "x", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
        {"Id": "y", "Arn": q_arn, "Input": "{}", "InputPath": "$.detail"},
    ])  # fmt: skip
    assert bad["FailedEntryCount"] == 2
    assert {e["TargetId"] for e in bad["FailedEntries"]} == {"x", "y"}
    described = ev.describe_rule(Name=rule)
    assert described["EventPattern"] == '{"source": ["a"]}' and described["Description"] == "kept"
    assert [t["Id"] for t in ev.list_targets_by_rule(Rule=rule)["Targets"]] == ["q"]
    assert ev.list_rule_names_by_target(TargetArn=q_arn)["RuleNames"] == [rule]
    ev.remove_targets(Rule=rule, Ids=["q"])
    ev.delete_rule(Name=rule)
    bus = unique("bus")
    ev.create_event_bus(Name=bus)
    with pytest.raises(ClientError) as scheduled:
        ev.put_rule(Name="s", EventBusName=bus, ScheduleExpression="rate(5 minutes)")
    assert scheduled.value.response["Error"]["Code"] == "ValidationException"
    ev.put_rule(Name="on-custom", EventBusName=bus, EventPattern='{"source": ["a"]}')
    assert [r["Name"] for r in ev.list_rules(EventBusName=bus)["Rules"]] == ["on-custom"]
    ev.delete_event_bus(Name=bus)
    assert bus not in [b["Name"] for b in ev.list_event_buses()["EventBuses"]]


def test_one_time_schedule_invokes_a_function(c: dict[str, Any]) -> None:
    fn = create_function(c["lambda"], RECORDER)
    fn_arn = c["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    name = unique("once")
    c["scheduler"].create_schedule(
        Name=name, ScheduleExpression=f"at({soon(2)})", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": fn_arn, "RoleArn": ROLE,
                "Input": '{"job": "report", "arn": "<aws.scheduler.schedule-arn>"}'},
    )  # fmt: skip
    got = c["scheduler"].get_schedule(Name=name)
    assert got["ScheduleExpressionTimezone"] == "UTC" and got["Target"]["Arn"] == fn_arn
    events = wait_for(lambda: recorded_events(c["logs"], fn), timeout=20)
    assert events == [{"job": "report", "arn": got["Arn"]}]
    with pytest.raises(c["scheduler"].exceptions.ConflictException):
        c["scheduler"].create_schedule(Name=name, ScheduleExpression="rate(5 minutes)",
                                       FlexibleTimeWindow={"Mode": "OFF"},
                                       Target={"Arn": fn_arn, "RoleArn": ROLE})  # fmt: skip
    with pytest.raises(c["scheduler"].exceptions.ValidationException):
        c["scheduler"].create_schedule(Name=unique("x"), ScheduleExpression="cron(0 10 * * * *)",
                                       FlexibleTimeWindow={"Mode": "OFF"},
                                       Target={"Arn": fn_arn, "RoleArn": ROLE})  # fmt: skip
    c["scheduler"].delete_schedule(Name=name)
    with pytest.raises(c["scheduler"].exceptions.ResourceNotFoundException):
        c["scheduler"].get_schedule(Name=name)


def test_schedule_due_while_stopped_fires_once_after_restart(
    start_server: Any, tmp_path: Path
) -> None:
    srv = start_server()
    c = clients(srv)
    url, q_arn = queue(c)
    c["scheduler"].create_schedule_group(Name="jobs")
    c["scheduler"].create_schedule(
        Name="nightly", GroupName="jobs", ScheduleExpression=f"at({soon(2)})",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
        Target={"Arn": q_arn, "RoleArn": ROLE, "Input": "due"},
    )  # fmt: skip
    srv.kill()  # gone before it was due
    time.sleep(3)  # the schedule becomes due while no server runs: time must pass
    srv.start()
    assert drain(c, url, 1) == ["due"]
    srv.stop()
    srv.start()  # the tick was recorded: never again
    assert c["scheduler"].get_schedule(Name="nightly", GroupName="jobs")["Name"] == "nightly"
    assert empty(c, url)


FAILS = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no good")
    return {"ok": event}
"""


def test_async_invoke_destinations_on_a_queue_a_topic_and_a_bus(c: dict[str, Any]) -> None:
    failures_url, failures_arn = queue(c)
    topic = c["sns"].create_topic(Name=unique("t"))["TopicArn"]
    topic_url, topic_q_arn = queue(c)
    c["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_q_arn,
                       Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    bus_url, bus_q_arn = queue(c)
    rule = unique("results")
    c["events"].put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {"source": ["lambda"], "detail-type": ["Lambda Function Invocation Result - Success"]}
        ),
    )
    c["events"].put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": bus_q_arn}])
    bus_arn = c["events"].describe_event_bus()["Arn"]
    first = create_function(c["lambda"], FAILS)
    second = create_function(c["lambda"], FAILS)
    c["lambda"].put_function_event_invoke_config(
        FunctionName=first, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": failures_arn},
                           "OnSuccess": {"Destination": bus_arn}},
    )  # fmt: skip
    c["lambda"].put_function_event_invoke_config(
        FunctionName=second, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": topic}},
    )  # fmt: skip
    for name in (first, second):
        c["lambda"].invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": 1}')
    c["lambda"].invoke(FunctionName=first, InvocationType="Event", Payload=b'{"n": 2}')
    failed = json.loads(drain(c, failures_url, 1)[0])
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestPayload"] == {"fail": 1}
    assert failed["responseContext"]["functionError"] == "Unhandled"
    assert failed["responsePayload"]["errorMessage"] == "no good"
    via_topic = json.loads(drain(c, topic_url, 1)[0])
    assert via_topic["requestContext"]["functionArn"].endswith(f":{second}:$LATEST")
    on_bus = json.loads(drain(c, bus_url, 1)[0])
    assert on_bus["source"] == "lambda" and on_bus["resources"][0] == bus_arn
    assert on_bus["resources"][1].endswith(f":function:{first}:$LATEST")
    assert on_bus["detail"]["responsePayload"] == {"ok": {"n": 2}}
    # a bus is no dead-letter queue (AWS takes SQS or SNS there)
    with pytest.raises(c["lambda"].exceptions.InvalidParameterValueException):
        c["lambda"].update_function_configuration(
            FunctionName=first, DeadLetterConfig={"TargetArn": bus_arn}
        )
    c["lambda"].update_function_configuration(
        FunctionName=second, DeadLetterConfig={"TargetArn": failures_arn}
    )

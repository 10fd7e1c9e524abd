"""Bucket notifications: configurations checked as S3 checks them, event records as S3 sends
them, delivered to functions (asynchronously, durably) and queues; the recursive-loop guard."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import RECORDER, FireboxServer, create_function, recorded_events, unique, wait_for

# AWS's sample S3 put event (as ../shared/events/s3_put.json has it), kept in the repository
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "s3_put.json"


def clients(server: FireboxServer) -> dict[str, Any]:
    kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))  # fmt: skip
    return {name: boto3.client(name, **kw) for name in ("s3", "lambda", "sqs", "logs")}  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    srv = FireboxServer(tmp_path_factory.mktemp("s3n") / "data")
    srv.start()
    yield srv
    srv.stop()


def bucket_name(prefix: str) -> str:
    return unique(prefix).lower().replace("_", "-")


def recorder(c: dict[str, Any], bucket: str, code: str = RECORDER) -> tuple[str, str]:
    """A function that logs every event it gets, allowed to be invoked by S3 for `bucket`."""
    name = create_function(c["lambda"], code)
    c["lambda"].add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    arn = c["lambda"].get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return name, arn


def records_of(c: dict[str, Any], name: str, count: int) -> list[dict[str, Any]]:
    """The records of the function's first `count` events, once they all came."""

    def enough() -> list[dict[str, Any]] | None:
        events = recorded_events(c["logs"], name)
        return events if len(events) >= count else None

    found = wait_for(enough, timeout=30)
    return [event["Records"][0] for event in found]


def code_of(call: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"]) + ": " + exc.value.response["Error"]["Message"]


def lambda_config(arn: str, events: list[str], prefix: str = "", suffix: str = "",
                  rule_id: str | None = None) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {"LambdaFunctionArn": arn, "Events": events}
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v]
    if rules:
        config["Filter"] = {"Key": {"FilterRules": rules}}
    if rule_id:
        config["Id"] = rule_id
    return config


def test_configurations_are_checked_as_s3_checks_them(server: FireboxServer) -> None:
    c = clients(server)
    s3 = c["s3"]
    bucket = bucket_name("cfg")
    s3.create_bucket(Bucket=bucket)
    name = create_function(c["lambda"], RECORDER)
    arn = c["lambda"].get_function(FunctionName=name)["Configuration"]["FunctionArn"]

    def put(*configs: dict[str, Any]) -> Any:
        return s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": list(configs)}
        )

    # the function's resource policy must let S3 invoke it, for this bucket
    refused = code_of(lambda: put(lambda_config(arn, ["s3:ObjectCreated:*"])))
    assert refused.startswith("InvalidArgument: Unable to validate the following destination")
    c["lambda"].add_permission(
        FunctionName=name,
        StatementId="other",
        Principal="s3.amazonaws.com",
        Action="lambda:InvokeFunction",
        SourceArn="arn:aws:s3:::elsewhere",
    )
    assert code_of(lambda: put(lambda_config(arn, ["s3:ObjectCreated:*"]))).startswith(
        "InvalidArgument: Unable to validate")  # fmt: skip
    c["lambda"].add_permission(
        FunctionName=name,
        StatementId="s3",
        Principal="s3.amazonaws.com",
        Action="lambda:InvokeFunction",
        SourceArn=f"arn:aws:s3:::{bucket}",
    )
    missing = arn.replace(name, "no-such-function")
    assert "does not exist" in code_of(lambda: put(lambda_config(missing, ["s3:ObjectCreated:*"])))
    assert code_of(lambda: put(lambda_config(arn, ["s3:ObjectMade:*"]))) == (
        "InvalidArgument: The event is not supported for notifications")  # fmt: skip
    overlap = code_of(
        lambda: put(
            lambda_config(arn, ["s3:ObjectCreated:*"], prefix="a/"),
            lambda_config(arn, ["s3:ObjectCreated:Put"], prefix="a/b"),
        )
    )
    assert overlap.startswith("InvalidArgument: Configurations overlap")
    two_prefixes = {
        "LambdaFunctionArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {
            "Key": {
                "FilterRules": [{"Name": "prefix", "Value": "a"}, {"Name": "prefix", "Value": "b"}]
            }
        },
    }
    assert "more than one prefix" in code_of(lambda: put(two_prefixes))
    assert s3.get_bucket_notification_configuration(Bucket=bucket).get(
        "LambdaFunctionConfigurations") is None  # nothing refused was kept  # fmt: skip
    # the same event type for keys that cannot overlap is fine; Ids are kept or made
    put(
        lambda_config(arn, ["s3:ObjectCreated:*"], prefix="a/", rule_id="first"),
        lambda_config(arn, ["s3:ObjectCreated:*"], prefix="b/"),
    )
    stored = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert stored[0]["Id"] == "first" and stored[1]["Id"]
    assert stored[0]["Filter"]["Key"]["FilterRules"] == [{"Name": "Prefix", "Value": "a/"}]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket=bucket)  # fmt: skip


def _shape(value: Any) -> Any:
    """The keys and value types of a JSON document, recursively."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_record_shape_and_every_event_type(server: FireboxServer) -> None:
    c = clients(server)
    s3 = c["s3"]
    bucket = bucket_name("rec")
    s3.create_bucket(Bucket=bucket)
    name, arn = recorder(c, bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                lambda_config(arn, ["s3:ObjectCreated:*"], prefix="in/", rule_id="created"),
                lambda_config(arn, ["s3:ObjectRemoved:*"], prefix="in/", rule_id="removed"),
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="in/my photo+1.jpg", Body=b"x" * 1024)
    records = records_of(c, name, 1)
    sample = json.loads(SAMPLE.read_text())["Records"][0]
    record = records[0]
    assert _shape(record) == _shape(sample)  # field by field, as S3 shapes it
    assert record["eventName"] == "ObjectCreated:Put" and record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["configurationId"] == "created"
    assert record["s3"]["bucket"] == {
        "name": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "ownerIdentity": record["s3"]["bucket"]["ownerIdentity"],
    }
    assert record["s3"]["object"]["key"] == "in/my+photo%2B1.jpg"  # form-encoded, as S3 does
    assert record["s3"]["object"]["size"] == 1024
    assert record["s3"]["object"]["eTag"] == s3.head_object(
        Bucket=bucket, Key="in/my photo+1.jpg")["ETag"].strip('"')  # fmt: skip
    # the other kinds of creation, then removal; outside the prefix nothing is sent
    s3.copy_object(Bucket=bucket, Key="in/copy", CopySource=f"{bucket}/in/my photo+1.jpg")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="in/multi")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="in/multi", UploadId=upload, PartNumber=1,
                          Body=b"m")["ETag"]  # fmt: skip
    s3.complete_multipart_upload(Bucket=bucket, Key="in/multi", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})  # fmt: skip
    s3.put_object(Bucket=bucket, Key="out/ignored", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="in/copy")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "in/multi"}]})
    s3.put_object(Bucket=bucket, Key="in/last", Body=b"x")  # after everything above
    records = records_of(c, name, 6)
    assert len(recorded_events(c["logs"], name)) == 6  # nothing for out/ignored, nothing twice
    assert sorted(r["eventName"] for r in records) == sorted([
        "ObjectCreated:Put", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload",
        "ObjectRemoved:Delete", "ObjectRemoved:Delete", "ObjectCreated:Put"])  # fmt: skip
    removed = [r for r in records if r["eventName"] == "ObjectRemoved:Delete"]
    assert {r["s3"]["configurationId"] for r in removed} == {"removed"}
    assert all(set(r["s3"]["object"]) == {"key", "sequencer"} for r in removed)
    assert all(r["s3"]["object"]["key"].startswith("in/") for r in records)
    sequencers = [r["s3"]["object"]["sequencer"] for r in records]
    assert len(set(sequencers)) == 6


def test_queue_destinations_get_the_test_event_then_records_in_order(server: FireboxServer) -> None:
    c = clients(server)
    s3, sqs = c["s3"], c["sqs"]
    bucket = bucket_name("toq")
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=unique("s3q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]  # fmt: skip
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [
                                     {"Name": "suffix", "Value": ".log"}]}}}]})  # fmt: skip
    for key in ("a.log", "b.txt", "c.log"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    bodies: list[dict[str, Any]] = []

    def three() -> bool:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies.extend(json.loads(m["Body"]) for m in got.get("Messages", []))
        return len(bodies) >= 3

    wait_for(three, timeout=20)
    assert bodies[0]["Event"] == "s3:TestEvent" and bodies[0]["Bucket"] == bucket
    keys = [b["Records"][0]["s3"]["object"]["key"] for b in bodies[1:]]
    assert keys == ["a.log", "c.log"]  # b.txt filtered out; the order of the writes kept


def test_kill9_between_put_and_delivery_loses_no_notification(start_server: Any) -> None:
    server = start_server()
    c = clients(server)
    bucket = "durable-notices"
    c["s3"].create_bucket(Bucket=bucket)
    name, arn = recorder(c, bucket)
    c["s3"].put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"])]
        },
    )
    keys = [f"k{i:03d}" for i in range(60)]

    def upload(part: list[str]) -> None:
        s3 = clients(server)["s3"]
        for key in part:
            s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    threads = [threading.Thread(target=upload, args=(keys[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.kill()  # at once: notifications still in the outbox or the Event queue
    server.start()
    c = clients(server)

    def all_delivered() -> bool:
        seen = {e["Records"][0]["s3"]["object"]["key"] for e in recorded_events(c["logs"], name)}
        return seen >= set(keys)

    wait_for(all_delivered, timeout=60)


LOOPER = """
import os, uuid, boto3
def handler(event, context):
    record = event["Records"][0]
    s3 = boto3.client("s3")
    # writes into the bucket that invoked it, under the same prefix: a loop
    s3.put_object(Bucket=record["s3"]["bucket"]["name"], Key="loop/" + uuid.uuid4().hex,
                  Body=b"again")
"""


def test_recursive_loop_is_stopped(server: FireboxServer) -> None:
    c = clients(server)
    s3 = c["s3"]
    bucket = bucket_name("loop")
    s3.create_bucket(Bucket=bucket)
    _name, arn = recorder(c, bucket, LOOPER)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"],
                                                       prefix="loop/")]})  # fmt: skip
    s3.put_object(Bucket=bucket, Key="loop/start", Body=b"go")
    log = server.log_path

    def stopped() -> bool:
        return "recursive loop detected" in log.read_text(errors="replace")

    wait_for(stopped, timeout=60)
    count = s3.list_objects_v2(Bucket=bucket, Prefix="loop/")["KeyCount"]
    assert count == 17  # the upload, then 16 invokes' writes: the 17th write notifies no one

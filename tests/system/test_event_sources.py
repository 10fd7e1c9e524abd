"""SQS event source mappings: the Lambda API for them, and functions fed by queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, unique, wait_for

# Reports each batch to the queue named in the function's OUT variable: the bodies it got,
# how many records came together, and the event's shape; fails the bodies "bad" on request.
REPORTER = (
    "import json, os, time, boto3\n"
    "sqs = boto3.client('sqs')\n"
    "def handler(event, context):\n"
    "    url = sqs.get_queue_url(QueueName=os.environ['OUT'])['QueueUrl']\n"
    "    records = event['Records']\n"
    "    time.sleep(float(os.environ.get('SLEEP', '0')))\n"
    "    entries = [{'Id': str(i), 'MessageBody': json.dumps({'body': r['body'],\n"
    "               'n': len(records), 'keys': sorted(r), 'record': r})}\n"
    "               for i, r in enumerate(records)]\n"
    "    for start in range(0, len(entries), 10):\n"
    "        sqs.send_message_batch(QueueUrl=url, Entries=entries[start:start + 10])\n"
    "    if os.environ.get('FAIL') == 'all':\n"
    "        raise RuntimeError('failing the batch')\n"
    "    bad = [r['messageId'] for r in records if r['body'] == 'bad']\n"
    "    return {'batchItemFailures': [{'itemIdentifier': i} for i in bad]}\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    srv = FireboxServer(tmp_path_factory.mktemp("esm") / "data")
    srv.start()
    yield srv
    srv.stop()


def client(server: FireboxServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=60))  # fmt: skip


def queue(sqs: Any, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=unique("q"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]  # fmt: skip
    return url, arn


def drain(sqs: Any, url: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """`count` reports from the output queue (deleted as read)."""
    got: list[dict[str, Any]] = []

    def more() -> bool:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            got.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= count

    wait_for(more, timeout=timeout, interval=0)
    return got


def depth(sqs: Any, url: str) -> tuple[int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"])


def reporter(lam: Any, out_url: str, **env: str) -> str:
    variables = {"OUT": out_url.rsplit("/", 1)[1], **env}
    return create_function(lam, REPORTER, Timeout=10, Environment={"Variables": variables})


def test_the_mapping_api(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    _, arn = queue(sqs, VisibilityTimeout="30")
    name = create_function(lam, "def handler(e, c):\n    return {}\n")
    created = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=50, MaximumBatchingWindowInSeconds=2,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["a"]}})}]},
        ScalingConfig={"MaximumConcurrency": 3}, FunctionResponseTypes=["ReportBatchItemFailures"],
    )  # fmt: skip
    assert created["State"] == "Creating" and created["EventSourceArn"] == arn
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert created["EventSourceMappingArn"].endswith(f":event-source-mapping:{created['UUID']}")
    got = lam.get_event_source_mapping(UUID=created["UUID"])
    assert got["State"] == "Enabled" and got["BatchSize"] == 50
    assert got["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert [m["UUID"] for m in lam.list_event_source_mappings(FunctionName=name)[
        "EventSourceMappings"]] == [created["UUID"]]  # fmt: skip
    assert lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
    updated = lam.update_event_source_mapping(UUID=created["UUID"], Enabled=False, BatchSize=5)
    assert updated["State"] == "Disabling"
    assert lam.get_event_source_mapping(UUID=created["UUID"])["State"] == "Disabled"

    def refused(**arguments: Any) -> str:
        with pytest.raises(ClientError) as exc:
            lam.create_event_source_mapping(**{"FunctionName": name, "EventSourceArn": arn,
                                               **arguments})  # fmt: skip
        return str(exc.value.response["Error"]["Code"])

    assert refused() == "ResourceConflictException"
    other_name = create_function(lam, "def handler(e, c):\n    return {}\n", Timeout=60)
    assert refused(FunctionName=other_name) == "InvalidParameterValueException"  # 30 s < 60 s
    other = create_function(lam, "def handler(e, c):\n    return {}\n")
    assert refused(FunctionName=other, BatchSize=20) == "InvalidParameterValueException"
    assert refused(FunctionName=other, FilterCriteria={"Filters": [{"Pattern": "{bad"}]}) == (
        "InvalidParameterValueException"
    )
    assert refused(FunctionName=other, EventSourceArn=arn + "-nope") == (
        "InvalidParameterValueException"
    )
    assert refused(FunctionName="no-such-function") == "ResourceNotFoundException"
    assert refused(FunctionName=other, BatchSize=10001, MaximumBatchingWindowInSeconds=1) == (
        "ValidationException"  # beyond the model's range
    )
    deleted = lam.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["State"] == "Deleting"
    with pytest.raises(ClientError) as exc:
        lam.get_event_source_mapping(UUID=created["UUID"])
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_messages_reach_the_function_in_aws_event_shape(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10)
    sqs.send_message(QueueUrl=url, MessageBody="hello", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"}})  # fmt: skip
    (report,) = drain(sqs, out, 1)
    record = report["record"]
    assert report["keys"] == sorted(["messageId", "receiptHandle", "body", "attributes",
                                     "messageAttributes", "md5OfBody", "md5OfMessageAttributes",
                                     "eventSource", "eventSourceARN", "awsRegion"])  # fmt: skip
    assert record["body"] == "hello" and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "greeting", "stringListValues": [], "binaryListValues": [],
        "dataType": "String"}  # fmt: skip
    wait_for(lambda: depth(sqs, url) == (0, 0))  # processed: deleted


def test_batches_by_size_and_window(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out)
    # Sent before the mapping exists: one receive can see all 25, batches of at most 10.
    for start in range(0, 25, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, min(start + 10, 25))
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                    ScalingConfig={"MaximumConcurrency": 2})  # fmt: skip
    reports = drain(sqs, out, 25)
    assert sorted(r["body"] for r in reports) == sorted(f"m{i}" for i in range(25))
    assert max(r["n"] for r in reports) <= 10
    # A window gathers what arrives within it into one batch.
    url2, arn2 = queue(sqs)
    windowed = reporter(lam, out)
    lam.create_event_source_mapping(FunctionName=windowed, EventSourceArn=arn2, BatchSize=50,
                                    MaximumBatchingWindowInSeconds=3,
                                    ScalingConfig={"MaximumConcurrency": 2})  # fmt: skip
    for i in range(3):
        sqs.send_message(QueueUrl=url2, MessageBody=f"w{i}")
    reports = drain(sqs, out, 3)
    assert sorted(r["body"] for r in reports) == ["w0", "w1", "w2"]
    assert all(r["n"] == 3 for r in reports)


def test_partial_batch_failure_redelivers_only_the_failed(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    dlq, dlq_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="10", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))  # fmt: skip
    out, _ = queue(sqs)
    name = reporter(lam, out)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "good"},
                                                  {"Id": "2", "MessageBody": "bad"},
                                                  {"Id": "3", "MessageBody": "fine"}])  # fmt: skip
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                    MaximumBatchingWindowInSeconds=1,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])  # fmt: skip
    first = drain(sqs, out, 3)
    assert sorted(r["body"] for r in first) == ["bad", "fine", "good"]
    # Only "bad" comes back (after the visibility timeout), and after its second receive
    # it is the dead-letter queue's.
    again = drain(sqs, out, 1, timeout=30)
    assert [r["body"] for r in again] == ["bad"]
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=20)["Messages"]
    assert [m["Body"] for m in dead] == ["bad"]
    assert depth(sqs, url) == (0, 0)


def test_filters_consume_what_does_not_match(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out)
    pattern = {"body": {"kind": ["order"], "amount": [{"numeric": [">", 100]}]}}
    filters = {"Filters": [{"Pattern": json.dumps(pattern)}]}
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, BatchSize=10, FilterCriteria=filters
    )
    for body in ({"kind": "order", "amount": 150}, {"kind": "order", "amount": 50},
                 {"kind": "refund", "amount": 500}, "not json"):  # fmt: skip
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body) if isinstance(body, dict)
                         else body)  # fmt: skip
    (report,) = drain(sqs, out, 1)
    assert json.loads(report["body"]) == {"kind": "order", "amount": 150}
    wait_for(lambda: depth(sqs, url) == (0, 0))  # the others: deleted without an invoke
    assert sqs.receive_message(QueueUrl=out, WaitTimeSeconds=1).get("Messages") is None


def test_maximum_concurrency_is_respected(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out, SLEEP="0.5")
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=1,
                                    ScalingConfig={"MaximumConcurrency": 2})  # fmt: skip
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)}
                                                  for i in range(8)])  # fmt: skip
    seen = 0

    def busy() -> bool:
        nonlocal seen
        envs = httpx.get(f"{server.url}/_firebox/environments").json()["Environments"]
        seen = max(seen, sum(1 for e in envs if e["function_name"] == name))
        return False

    reports: list[dict[str, Any]] = []

    def progress() -> bool:
        busy()
        batch = sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10)
        for message in batch.get("Messages", []):
            reports.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=out, ReceiptHandle=message["ReceiptHandle"])
        return len(reports) >= 8

    wait_for(progress, timeout=60)
    assert 1 <= seen <= 2  # never more environments busy than the mapping allows


def test_a_disabled_mapping_stops_and_an_enabled_one_resumes(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out)
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn,
                                              Enabled=False)  # fmt: skip
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    assert sqs.receive_message(QueueUrl=out, WaitTimeSeconds=2).get("Messages") is None
    assert depth(sqs, url) == (1, 0)
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    assert [r["body"] for r in drain(sqs, out, 1)] == ["waiting"]


def test_a_throttled_function_leaves_messages_in_the_queue(server: FireboxServer) -> None:
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url, arn = queue(sqs)
    out, _ = queue(sqs)
    name = reporter(lam, out)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    sqs.send_message(QueueUrl=url, MessageBody="held")
    wait_for(lambda: lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"][0][
        "LastProcessingResult"] == "PROBLEM: Function call throttled")  # fmt: skip
    assert sum(depth(sqs, url)) == 1  # still there (released, not lost)
    lam.delete_function_concurrency(FunctionName=name)
    assert [r["body"] for r in drain(sqs, out, 1)] == ["held"]


def test_mappings_resume_after_a_restart_and_kill_9_loses_nothing(tmp_path: Any) -> None:
    srv = FireboxServer(tmp_path / "data").start()
    try:
        lam, sqs = client(srv, "lambda"), client(srv, "sqs")
        dlq, dlq_arn = queue(sqs)
        url, arn = queue(sqs, VisibilityTimeout="10", RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}))  # fmt: skip
        out, _ = queue(sqs)
        name = reporter(lam, out)
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                        ScalingConfig={"MaximumConcurrency": 4})  # fmt: skip
        total = 1000
        for start in range(0, total, 10):
            entries = [{"Id": str(i), "MessageBody": f"n{i}"} for i in range(start, start + 10)]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        wait_for(lambda: depth(sqs, out)[0] >= 100, timeout=60)  # mid-drain
        srv.kill()
        srv.start()  # the mapping resumes by itself
        processed: dict[str, int] = {}

        def done() -> bool:
            batch = sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10)
            for message in batch.get("Messages", []):
                body = json.loads(message["Body"])["body"]
                processed[body] = processed.get(body, 0) + 1
                sqs.delete_message(QueueUrl=out, ReceiptHandle=message["ReceiptHandle"])
            return len(processed) >= total - depth(sqs, dlq)[0] and depth(sqs, url) == (0, 0)

        wait_for(done, timeout=120, interval=0)
        dead = depth(sqs, dlq)[0]
        assert len(processed) + dead >= total  # none lost
        duplicates = sum(count - 1 for count in processed.values())
        print(
            f"\n{total} messages: {len(processed)} processed, {dead} in the DLQ, "
            f"{duplicates} processed twice (at-least-once across the kill)"
        )
    finally:
        srv.stop()


def test_powertools_batch_processor_handles_a_partial_failure(server: FireboxServer) -> None:
    """AWS Lambda Powertools' BatchProcessor, vendored as users vendor it, runs unchanged."""
    from support import vendored

    lam, sqs = client(server, "lambda"), client(server, "sqs")
    dlq, dlq_arn = queue(sqs)
    url, arn = queue(sqs, VisibilityTimeout="10", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))  # fmt: skip
    out, _ = queue(sqs)
    code = (
        "import os, boto3\n"
        "from aws_lambda_powertools.utilities.batch import (BatchProcessor, EventType,\n"
        "    process_partial_response)\n"
        "processor = BatchProcessor(event_type=EventType.SQS)\n"
        "sqs = boto3.client('sqs')\n"
        "def record_handler(record):\n"
        "    if record.body == 'bad':\n"
        "        raise ValueError('cannot handle this one')\n"
        "    url = sqs.get_queue_url(QueueName=os.environ['OUT'])['QueueUrl']\n"
        "    sqs.send_message(QueueUrl=url, MessageBody=record.body)\n"
        "def handler(event, context):\n"
        "    return process_partial_response(event=event, record_handler=record_handler,\n"
        "                                    processor=processor, context=context)\n"
    )
    files: dict[str, str | bytes] = {**vendored("aws-lambda-powertools"), "app.py": code}
    name = create_function(lam, files, Timeout=10,
                           Environment={"Variables": {"OUT": out.rsplit("/", 1)[1]}})  # fmt: skip
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(["a", "bad", "b"])]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=10,
                                    MaximumBatchingWindowInSeconds=1,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])  # fmt: skip
    done: list[str] = []

    def handled() -> bool:
        for message in sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10).get(
                "Messages", []):  # fmt: skip
            done.append(message["Body"])
            sqs.delete_message(QueueUrl=out, ReceiptHandle=message["ReceiptHandle"])
        return len(done) >= 2

    wait_for(handled, timeout=60)
    assert sorted(done) == ["a", "b"]
    dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=20)["Messages"]
    assert [m["Body"] for m in dead] == ["bad"]  # only the failed record came back, then died

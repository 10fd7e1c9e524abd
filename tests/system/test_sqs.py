"""The SQS-compatible queue service through boto3 (AWS JSON 1.0) and the older query protocol."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, invoke_json, unique, wait_for

NS = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}


@pytest.fixture(scope="module")
def queues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("sqs") / "data")
    server.start()
    yield server
    server.stop()


def sqs_client(server: FireboxServer) -> Any:
    return boto3.client("sqs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=60))  # fmt: skip


@pytest.fixture
def sqs(queues: FireboxServer) -> Any:
    return sqs_client(queues)


def error(call: Any) -> tuple[int, str, str]:
    """(status, the code SDKs see, the JSON type) of a refused call."""
    with pytest.raises(ClientError) as exc:
        call()
    err = exc.value.response["Error"]
    return (exc.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"],
            err.get("QueryErrorCode", err["Code"]))  # fmt: skip


def arn_of(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    return arn


def test_queue_lifecycle_and_attributes(sqs: Any, queues: FireboxServer) -> None:
    name = unique("q")
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"},
                           tags={"team": "a"})["QueueUrl"]  # fmt: skip
    assert url == f"{queues.url}/000000000000/{name}"
    assert sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] \
        == url  # the same attributes: the same queue  # fmt: skip
    status, code, kind = error(lambda: sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "46"}))  # fmt: skip
    assert (status, code, kind) == (400, "QueueAlreadyExists", "QueueNameExists")
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert attributes["MaximumMessageSize"] == "1048576"  # 1 MiB, AWS's default since 2025
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "5"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])[
        "Attributes"] == {"DelaySeconds": "5"}  # fmt: skip
    for bad, code in (({"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
                      ({"Nope": "1"}, "InvalidAttributeName"),
                      ({"RedrivePolicy": "{not json"}, "InvalidAttributeValue")):  # fmt: skip
        assert error(lambda b=bad: sqs.set_queue_attributes(QueueUrl=url, Attributes=b))[1] == code
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "VisibilityTimeout"] == "45"  # refused changes changed nothing  # fmt: skip
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    assert error(lambda: sqs.create_queue(QueueName="bad name!"))[1] == "InvalidParameterValue"
    sqs.delete_queue(QueueUrl=url)
    assert error(lambda: sqs.get_queue_url(QueueName=name))[1:] == (
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    )
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):  # boto3's typed exception
        sqs.get_queue_attributes(QueueUrl=url)
    assert error(lambda: sqs.create_queue(QueueName=name))[2] == "QueueDeletedRecently"


def test_listing_with_prefix_and_pages(sqs: Any) -> None:
    prefix = unique("list")
    for i in range(5):
        sqs.create_queue(QueueName=f"{prefix}-{i}")
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=3)
    assert len(first["QueueUrls"]) == 3 and "NextToken" in first
    rest = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=3, NextToken=first["NextToken"])
    assert len(rest["QueueUrls"]) == 2 and "NextToken" not in rest
    assert [u.rsplit("/", 1)[1] for u in first["QueueUrls"] + rest["QueueUrls"]] == [
        f"{prefix}-{i}" for i in range(5)]  # fmt: skip


def test_messages_visibility_and_receipt_handles(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("m"), Attributes={"VisibilityTimeout": "1"})[
        "QueueUrl"]  # fmt: skip
    attributes = {"kind": {"DataType": "String", "StringValue": "order"},
                  "n": {"DataType": "Number", "StringValue": "42"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}  # fmt: skip
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    first = sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                                MessageAttributeNames=["All"])["Messages"][0]  # fmt: skip
    assert first["MessageId"] == sent["MessageId"] and first["Body"] == "héllo"
    assert first["MessageAttributes"] == attributes
    assert first["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert abs(int(first["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # in flight
    # Visibility runs out: the message comes back, counted again, with a new handle.
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["All"])[
        "Messages"][0]  # fmt: skip
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # outdated: no-op
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessagesNotVisible"] == "1"  # fmt: skip
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"],
                                  VisibilityTimeout=0)  # fmt: skip
    third = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert error(lambda: sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=third["ReceiptHandle"], VisibilityTimeout=5))[2] == \
        "MessageNotInflight"  # fmt: skip
    assert error(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="nope"))[1] == (
        "ReceiptHandleIsInvalid"
    )
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None
    for bad in ({"MessageBody": "\x00"}, {"MessageBody": "x" * (1024 * 1024 + 1)},
                {"MessageBody": "x", "DelaySeconds": 901}):  # fmt: skip
        assert error(lambda b=bad: sqs.send_message(QueueUrl=url, **b))[0] == 400


def test_long_polling_returns_as_soon_as_a_message_arrives(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("poll"))["QueueUrl"]
    timer = threading.Timer(0.5, lambda: sqs_send(url))
    started = time.monotonic()
    timer.start()
    try:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    finally:
        timer.join()
    assert got["Messages"][0]["Body"] == "late"
    assert time.monotonic() - started < 10  # it did not wait out its 20 s


def sqs_send(url: str) -> None:
    server_url = url.rsplit("/", 2)[0]
    client = boto3.client("sqs", endpoint_url=server_url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    client.send_message(QueueUrl=url, MessageBody="late")


def test_delays_per_queue_and_per_message(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("delay"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert got[0]["Body"] == "later"


def test_batches(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("batch"))["QueueUrl"]
    result = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "MessageBody": "one"}, {"Id": "bad", "MessageBody": "\x01"}])  # fmt: skip
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert result["Failed"][0]["Id"] == "bad" and result["Failed"][0]["SenderFault"]
    refusals = [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i), "MessageBody": "x"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "MessageBody": "x"}] * 2, "BatchEntryIdsNotDistinct"),
        ([{"Id": "no spaces", "MessageBody": "x"}], "InvalidBatchEntryId"),
    ]
    for entries, kind in refusals:
        assert error(lambda e=entries: sqs.send_message_batch(QueueUrl=url, Entries=e))[2] == kind
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "m", "ReceiptHandle": got[0]["ReceiptHandle"]},
        {"Id": "x", "ReceiptHandle": "garbage"}])  # fmt: skip
    assert [e["Id"] for e in deleted["Successful"]] == ["m"]
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    assert error(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11))[1] == (
        "InvalidParameterValue"
    )


def test_fifo_order_groups_and_deduplication(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("f") + ".fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]  # fmt: skip
    numbers = []
    for group, body in (("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")):
        numbers.append(sqs.send_message(QueueUrl=url, MessageBody=body,
                                        MessageGroupId=group)["SequenceNumber"])  # fmt: skip
    assert numbers == sorted(numbers, key=int) and len(set(numbers)) == 4
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
    assert duplicate["SequenceNumber"] == numbers[0]  # within 5 minutes: not enqueued again
    explicit = sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="c",
                                MessageDeduplicationId="id-1")  # fmt: skip
    again = sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="c",
                             MessageDeduplicationId="id-1")  # fmt: skip
    assert again["MessageId"] == explicit["MessageId"]
    # As many of one group as possible first, in order, as SQS returns them.
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])[
        "Messages"]  # fmt: skip
    assert [m["Body"] for m in first] == ["a1", "a2"]
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    assert first[0]["Attributes"]["SequenceNumber"] == numbers[0]
    # Group a is in flight: b and c give theirs, group by group.
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b1", "b2", "other"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"],
                                  VisibilityTimeout=0)  # fmt: skip
    # a2 is visible again but a1 is still in flight: group a stays blocked.
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)[
        "Messages"]] == ["a2"]  # fmt: skip
    for bad, kind in (({"MessageBody": "x"}, "MissingParameter"),
                      ({"MessageBody": "x", "MessageGroupId": "g", "DelaySeconds": 3},
                       "InvalidParameterValue")):  # fmt: skip
        assert error(lambda b=bad: sqs.send_message(QueueUrl=url, **b))[2] == kind


def test_dead_letter_queues_and_moving_messages_back(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2})
    source = sqs.create_queue(QueueName=unique("src"), Attributes={
        "VisibilityTimeout": "0", "RedrivePolicy": redrive})["QueueUrl"]  # fmt: skip
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison")
    for _ in range(2):
        assert sqs.receive_message(QueueUrl=source)["Messages"][0]["Body"] == "poison"
    assert sqs.receive_message(QueueUrl=source).get("Messages") is None  # moved on its 3rd
    dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn_of(sqs, source)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=dead["ReceiptHandle"],
                                  VisibilityTimeout=0)  # fmt: skip
    task = sqs.start_message_move_task(SourceArn=arn_of(sqs, dlq))
    assert task["TaskHandle"]
    wait_for(lambda: sqs.list_message_move_tasks(SourceArn=arn_of(sqs, dlq))["Results"][0][
        "Status"] == "COMPLETED")  # fmt: skip
    back = sqs.receive_message(QueueUrl=source)["Messages"][0]
    assert back["MessageId"] == sent["MessageId"] and back["Body"] == "poison"
    assert error(lambda: sqs.start_message_move_task(SourceArn=arn_of(sqs, source)))[1] == (
        "InvalidParameterValue"
    )  # not a dead-letter queue


def test_purge(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("purge"))["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"}
                                                  for i in range(5)])  # fmt: skip
    sqs.purge_queue(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None
    assert error(lambda: sqs.purge_queue(QueueUrl=url))[1] == (
        "AWS.SimpleQueueService.PurgeQueueInProgress"
    )


def query(server: FireboxServer, path: str = "/", **form: str) -> ET.Element:
    response = httpx.post(f"{server.url}{path}", data=form)
    return ET.fromstring(response.text)


def test_the_older_query_protocol(queues: FireboxServer, sqs: Any) -> None:
    name = unique("query")
    visibility = {"Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "60"}
    created = query(queues, Action="CreateQueue", QueueName=name, **visibility)
    url = created.findtext("q:CreateQueueResult/q:QueueUrl", namespaces=NS)
    assert url == f"{queues.url}/000000000000/{name}"
    sent = query(queues, Action="SendMessage", QueueUrl=url, MessageBody="via form",
                 **{"MessageAttribute.1.Name": "k", "MessageAttribute.1.Value.DataType": "String",
                    "MessageAttribute.1.Value.StringValue": "v"})  # fmt: skip
    message_id = sent.findtext("q:SendMessageResult/q:MessageId", namespaces=NS)
    # Posted to the queue's own URL, as older clients do.
    received = query(queues, f"/000000000000/{name}", Action="ReceiveMessage",
                     **{"AttributeName.1": "All", "MessageAttributeName.1": "All"})  # fmt: skip
    message = received.find("q:ReceiveMessageResult/q:Message", NS)
    assert message is not None
    assert message.findtext("q:MessageId", namespaces=NS) == message_id
    assert message.findtext("q:Body", namespaces=NS) == "via form"
    names = [a.findtext("q:Name", namespaces=NS) for a in message.findall("q:Attribute", NS)]
    assert "ApproximateReceiveCount" in names
    assert message.findtext("q:MessageAttribute/q:Value/q:StringValue", namespaces=NS) == "v"
    # Both protocols see the same queue: the JSON client deletes what the form received.
    handle = message.findtext("q:ReceiptHandle", namespaces=NS)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    missing = query(queues, Action="GetQueueUrl", QueueName="no-such-queue")
    assert missing.findtext("Error/Code") == "AWS.SimpleQueueService.NonExistentQueue"
    attributes = query(queues, Action="GetQueueAttributes", QueueUrl=url,
                       **{"AttributeName.1": "All"})  # fmt: skip
    pairs = {a.findtext("q:Name", namespaces=NS): a.findtext("q:Value", namespaces=NS)
             for a in attributes.findall("q:GetQueueAttributesResult/q:Attribute", NS)}  # fmt: skip
    assert pairs["VisibilityTimeout"] == "60" and pairs["ApproximateNumberOfMessages"] == "0"


def test_accepted_messages_survive_kill_9_and_deleted_ones_stay_deleted(
    tmp_path: Any,
) -> None:
    server = FireboxServer(tmp_path / "data").start()
    try:
        sqs = sqs_client(server)
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)}
                                                      for i in range(10)])  # fmt: skip
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)
        for message in got["Messages"]:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        deleted = {m["Body"] for m in got["Messages"]}
        server.kill()
        server.start()
        bodies: set[str] = set()
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")
            if not batch:
                break
            bodies |= {m["Body"] for m in batch}
        assert bodies == {str(i) for i in range(10)} - deleted
    finally:
        server.stop()


def test_a_function_sends_to_a_queue_through_its_endpoint(queues: FireboxServer, sqs: Any) -> None:
    name = unique("from-fn")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    code = (
        "import boto3\n"
        "def handler(event, context):\n"
        "    sqs = boto3.client('sqs')\n"
        "    url = sqs.get_queue_url(QueueName=event['queue'])['QueueUrl']\n"
        "    sqs.send_message(QueueUrl=url, MessageBody='from inside')\n"
        "    return url\n"
    )
    lam = queues.client()
    body, response = invoke_json(lam, create_function(lam, code), {"queue": name})
    assert "FunctionError" not in response, body
    assert body.endswith(f"/000000000000/{name}")  # as the function reached it
    message = sqs.receive_message(QueueUrl=url, AttributeNames=["SenderId"])["Messages"][0]
    assert message["Body"] == "from inside"
    assert message["Attributes"]["SenderId"].startswith("ASIA")  # the environment's credentials


def test_the_cli(queues: FireboxServer, sqs: Any) -> None:
    import subprocess

    from support import FIREBOX

    def run(*args: str, ok: bool = True) -> str:
        done = subprocess.run([FIREBOX, *args, "--endpoint", queues.url], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert (done.returncode == 0) == ok, done.stderr
        return done.stdout if ok else done.stderr

    dlq = sqs.create_queue(QueueName=unique("cli-dlq"))["QueueUrl"]
    name = unique("cli")
    redrive = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 1})
    sqs.create_queue(
        QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "0"}
    )
    message_id = run("queue", "send", name, "from the cli").strip()
    listing = run("queues")
    row = next(line for line in listing.splitlines() if line.startswith(name + " "))
    assert row.split()[1] == "1" and dlq.rsplit("/", 1)[1] in row
    (line,) = run("queue", "receive", name).splitlines()
    assert json.loads(line)["MessageId"] == message_id
    run("queue", "receive", name)  # a second receive moves it to the dead-letter queue
    assert sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"][
        "ApproximateNumberOfMessages"] == "1"  # fmt: skip
    assert "moved 1 messages" in run("queue", "redrive", dlq.rsplit("/", 1)[1])
    received = [json.loads(x) for x in run("queue", "receive", name, "--delete").splitlines()]
    assert [m["Body"] for m in received] == ["from the cli"]
    run("queue", "send", name, "x")
    assert "purged" in run("queue", "purge", name)
    assert "QueueDoesNotExist" in run("queue", "send", "no-such-queue", "x", ok=False)

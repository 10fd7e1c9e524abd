"""SNS-compatible topics through boto3 (query protocol): topics and subscriptions, fan-out of
one Publish to a function, queues (enveloped and raw) and filtered subscriptions, filter
policies on attributes and bodies, durability across kill -9, dead-letter queues, and S3
notifications through a topic."""

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

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "sns.json"


def clients(server: FireboxServer) -> dict[str, Any]:
    kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}))  # fmt: skip
    return {n: boto3.client(n, **kw) for n in ("sns", "sqs", "lambda", "logs", "s3")}  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    srv = FireboxServer(tmp_path_factory.mktemp("sns") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def c(server: FireboxServer) -> dict[str, Any]:
    return clients(server)


def code_of(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response[
        "Error"]["Code"]  # fmt: skip


def queue(c: dict[str, Any], name: str | None = None) -> tuple[str, str]:
    url = c["sqs"].create_queue(QueueName=name or unique("q"))["QueueUrl"]
    arn = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    return url, arn


def drain(c: dict[str, Any], url: str, count: int) -> list[dict[str, Any]]:
    """The first `count` messages of a queue (waiting for them), bodies and attributes."""
    got: list[dict[str, Any]] = []

    def enough() -> bool:
        answer = c["sqs"].receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            got.append(message)
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= count

    wait_for(enough, timeout=20)
    return got


def empty(c: dict[str, Any], url: str) -> bool:
    answer = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return not answer.get("Messages")


def subscriber(c: dict[str, Any], topic: str) -> str:
    name = create_function(c["lambda"], RECORDER)
    c["lambda"].add_permission(
        FunctionName=name,
        StatementId="sns",
        Principal="sns.amazonaws.com",
        Action="lambda:InvokeFunction",
        SourceArn=topic,
    )
    arn = c["lambda"].get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    c["sns"].subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    return name


def test_topics_subscriptions_and_errors(c: dict[str, Any]) -> None:
    sns = c["sns"]
    name = unique("t")
    arn = sns.create_topic(Name=name, Attributes={"DisplayName": "Orders"},
                           Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]  # fmt: skip
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn  # the same topic again
    assert code_of(lambda: sns.create_topic(Name=name, Attributes={"DisplayName": "Other"})) == (
        400, "InvalidParameter")  # fmt: skip
    assert arn in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Orders" and attributes["Owner"] == "000000000000"
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="New")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "New"
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    for bad in ("has space", "x" * 257, "no.dots"):
        assert code_of(lambda n=bad: sns.create_topic(Name=n)) == (400, "InvalidParameter")
    assert code_of(lambda: sns.create_topic(Name="plain", Attributes={"FifoTopic": "true"})) == (
        400, "InvalidParameter")  # fmt: skip
    fifo = sns.create_topic(Name=unique("f") + ".fifo", Attributes={"FifoTopic": "true"})
    assert code_of(lambda: sns.publish(TopicArn=fifo["TopicArn"], Message="m")) == (
        400, "InvalidParameter")  # a FIFO topic needs a group  # fmt: skip
    missing = arn + "-missing"
    assert code_of(lambda: sns.publish(TopicArn=missing, Message="m")) == (404, "NotFound")
    assert code_of(lambda: sns.get_topic_attributes(TopicArn=missing)) == (404, "NotFound")
    _, queue_arn = queue(c)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)[
        "SubscriptionArn"] == sub  # fmt: skip
    assert [
        s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    ] == [sub]
    assert sub in [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]
    assert code_of(lambda: sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint="nope")) == (
        400, "InvalidParameter")  # fmt: skip
    assert code_of(lambda: sns.set_subscription_attributes(
        SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue="{not json")) == (
        400, "InvalidParameter")  # fmt: skip
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == []
    sns.delete_topic(TopicArn=arn)
    assert code_of(lambda: sns.get_topic_attributes(TopicArn=arn)) == (404, "NotFound")


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_one_publish_fans_out_to_a_function_and_queues(c: dict[str, Any]) -> None:
    sns = c["sns"]
    topic = sns.create_topic(Name=unique("fan"))["TopicArn"]
    function = subscriber(c, topic)
    enveloped_url, enveloped = queue(c)
    raw_url, raw = queue(c)
    skipped_url, skipped = queue(c)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=enveloped)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=skipped,
                  Attributes={"FilterPolicy": json.dumps({"kind": ["refund"]})})  # fmt: skip
    attributes = {"Test": {"DataType": "String", "StringValue": "TestString"},
                  "TestBinary": {"DataType": "Binary", "BinaryValue": b"bin"}}  # fmt: skip
    message_id = sns.publish(TopicArn=topic, Message="an order", Subject="new",
                             MessageAttributes=attributes)["MessageId"]  # fmt: skip
    (envelope,) = [json.loads(m["Body"]) for m in drain(c, enveloped_url, 1)]
    assert envelope["Type"] == "Notification" and envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == topic and envelope["Subject"] == "new"
    assert envelope["Message"] == "an order"
    assert envelope["MessageAttributes"]["Test"] == {"Type": "String", "Value": "TestString"}
    assert {"Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
            "UnsubscribeURL"} <= set(envelope)  # fmt: skip
    (raw_message,) = drain(c, raw_url, 1)
    assert raw_message["Body"] == "an order"
    assert raw_message["MessageAttributes"]["Test"] == {
        "DataType": "String",
        "StringValue": "TestString",
    }
    event = wait_for(lambda: (recorded_events(c["logs"], function) or [None])[0], timeout=20)
    sample = json.loads(SAMPLE.read_text())["Records"][0]
    record = event["Records"][0]
    assert _shape(record) == _shape(sample)  # field by field, as SNS shapes it for Lambda
    assert record["Sns"]["MessageId"] == message_id and record["Sns"]["Message"] == "an order"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    assert empty(c, skipped_url)  # filtered out


@pytest.mark.parametrize(("policy", "scope", "matching", "not_matching"), [
    ({"store": ["example_corp"]}, "MessageAttributes",
     {"store": "example_corp"}, {"store": "other"}),
    ({"price": [{"numeric": [">", 100, "<=", 500]}]}, "MessageAttributes",
     {"price": 250}, {"price": 50}),
    ({"event": [{"prefix": "order-"}]}, "MessageAttributes",
     {"event": "order-placed"}, {"event": "refund"}),
    ({"event": [{"suffix": "-eu"}]}, "MessageAttributes", {"event": "x-eu"}, {"event": "x-us"}),
    ({"color": [{"anything-but": ["red", "green"]}]}, "MessageAttributes",
     {"color": "blue"}, {"color": "red"}),
    ({"vip": [{"exists": True}]}, "MessageAttributes", {"vip": "yes"}, {"other": "yes"}),
    ({"vip": [{"exists": False}]}, "MessageAttributes", {"other": "x"}, {"vip": "yes"}),
    ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, "MessageAttributes", {"b": "2"}, {"a": "2"}),
    ({"sizes": ["L"]}, "MessageAttributes", {"sizes": ["S", "L"]}, {"sizes": ["S", "M"]}),
    ({"order": {"status": ["paid"]}}, "MessageBody",
     {"order": {"status": "paid"}}, {"order": {"status": "new"}}),
])  # fmt: skip
def test_filter_policies(c: dict[str, Any], policy: Any, scope: str, matching: dict[str, Any],
                         not_matching: dict[str, Any]) -> None:  # fmt: skip
    sns = c["sns"]
    topic = sns.create_topic(Name=unique("filter"))["TopicArn"]
    url, arn = queue(c)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
        "FilterPolicy": json.dumps(policy), "FilterPolicyScope": scope,
        "RawMessageDelivery": "true"})  # fmt: skip

    def publish(values: dict[str, Any], label: str) -> None:
        if scope == "MessageBody":
            sns.publish(TopicArn=topic, Message=json.dumps({**values, "label": label}))
            return
        attributes = {}
        for key, value in values.items():
            if isinstance(value, list):
                attributes[key] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
            elif isinstance(value, int):
                attributes[key] = {"DataType": "Number", "StringValue": str(value)}
            else:
                attributes[key] = {"DataType": "String", "StringValue": value}
        sns.publish(TopicArn=topic, Message=label, MessageAttributes=attributes)

    publish(not_matching, "no")
    publish(matching, "yes")
    (got,) = drain(c, url, 1)  # in order: the filtered-out one would have come first
    body = got["Body"]
    assert (json.loads(body)["label"] if scope == "MessageBody" else body) == "yes"


def test_publish_batch_and_message_structure(c: dict[str, Any]) -> None:
    sns = c["sns"]
    topic = sns.create_topic(Name=unique("batch"))["TopicArn"]
    url, arn = queue(c)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    result = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "first"}, {"Id": "bad", "Message": ""},
        {"Id": "two", "Message": json.dumps({"default": "plain", "sqs": "for queues"}),
         "MessageStructure": "json"}])  # fmt: skip
    assert [e["Id"] for e in result["Successful"]] == ["one", "two"]
    assert [(e["Id"], e["Code"]) for e in result["Failed"]] == [("bad", "InvalidParameter")]
    assert [m["Body"] for m in drain(c, url, 2)] == ["first", "for queues"]
    assert code_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}])) == (
        400, "BatchEntryIdsNotDistinct")  # fmt: skip


def test_a_gone_subscriber_sends_to_its_dead_letter_queue(c: dict[str, Any]) -> None:
    sns = c["sns"]
    topic = sns.create_topic(Name=unique("dlq"))["TopicArn"]
    gone_url, gone = queue(c)
    dlq_url, dlq = queue(c)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=gone, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq})})  # fmt: skip
    c["sqs"].delete_queue(QueueUrl=gone_url)
    sns.publish(TopicArn=topic, Message="nobody home")
    (dead,) = drain(c, dlq_url, 1)
    assert json.loads(dead["Body"])["Message"] == "nobody home"


def test_s3_notifications_through_a_topic(c: dict[str, Any]) -> None:
    sns, s3 = c["sns"], c["s3"]
    topic = sns.create_topic(Name=unique("uploads"))["TopicArn"]
    url, arn = queue(c)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    bucket = unique("tb").lower().replace("_", "-")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="photo.jpg", Body=b"x")
    test_event, created = (json.loads(m["Body"]) for m in drain(c, url, 2))
    assert json.loads(test_event["Message"])["Event"] == "s3:TestEvent"
    assert created["Subject"] == "Amazon S3 Notification"
    record = json.loads(created["Message"])["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "photo.jpg"
    missing = topic + "-missing"
    with pytest.raises(ClientError, match="Unable to validate"):
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": missing, "Events": ["s3:ObjectCreated:*"]}]
            },
        )


def test_kill9_after_publish_loses_no_delivery(start_server: Any) -> None:
    server = start_server()
    c = clients(server)
    topic = c["sns"].create_topic(Name="durable")["TopicArn"]
    url, arn = queue(c, "durable-q")
    c["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                       Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    bodies = [f"m{i:03d}" for i in range(60)]

    def publish(part: list[str]) -> None:
        sns = clients(server)["sns"]
        for body in part:
            sns.publish(TopicArn=topic, Message=body)

    threads = [threading.Thread(target=publish, args=(bodies[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.kill()  # at once: deliveries may still wait in the outbox
    server.start()
    c = clients(server)
    seen: set[str] = set()

    def all_delivered() -> bool:
        answer = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=1)  # fmt: skip
        for message in answer.get("Messages", []):
            seen.add(message["Body"])
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seen >= set(bodies)

    wait_for(all_delivered, timeout=60)


def test_fifo_topics_deliver_in_order_to_fifo_queues(c: dict[str, Any]) -> None:
    sns = c["sns"]
    name = unique("ordered")
    topic = sns.create_topic(Name=f"{name}.fifo", Attributes={
        "FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]  # fmt: skip
    url = c["sqs"].create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"]  # fmt: skip
    arn = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    _, standard = queue(c)
    assert code_of(lambda: sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=standard)) == (
        400, "InvalidParameter")  # a FIFO topic feeds FIFO queues only  # fmt: skip
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    sequence = []
    for i in range(5):
        sequence.append(sns.publish(TopicArn=topic, Message=f"step {i}",
                                    MessageGroupId="g")["SequenceNumber"])  # fmt: skip
    assert sequence == sorted(sequence, key=int)
    received = [m["Body"] for m in drain(c, url, 5)]
    assert received == [f"step {i}" for i in range(5)]  # one group: in order
    plain = sns.create_topic(Name=unique("plain"))["TopicArn"]
    assert code_of(lambda: sns.subscribe(TopicArn=plain, Protocol="sqs", Endpoint=arn)) == (
        400, "InvalidParameter")  # and a standard topic no FIFO queue  # fmt: skip
    bucket = unique("fifo-b").lower().replace("_", "-")
    c["s3"].create_bucket(Bucket=bucket)
    with pytest.raises(ClientError, match="FIFO SNS topics are not supported"):
        c["s3"].put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
            },
        )


class _Endpoint:
    """A small HTTP server standing in for a subscriber's endpoint: records each POST and
    answers 500 to the first `fail` notifications."""

    def __init__(self, fail: int = 0) -> None:
        import http.server

        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.fail = fail
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    parsed = json.loads(body)
                except ValueError:  # a raw message
                    parsed = {"raw": body.decode()}
                outer.posts.append((dict(self.headers), parsed))
                failing = (
                    outer.fail > 0 and self.headers["x-amz-sns-message-type"] == "Notification"
                )
                outer.fail -= 1 if failing else 0
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [body for headers, body in self.posts if headers["x-amz-sns-message-type"] == kind]


def test_http_subscription_confirmation_delivery_and_retries(c: dict[str, Any]) -> None:
    import urllib.request

    endpoint = _Endpoint(fail=2)
    topic = c["sns"].create_topic(Name=unique("hooks"))["TopicArn"]
    answer = c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    assert answer["SubscriptionArn"] == "pending confirmation"
    confirmation = wait_for(lambda: endpoint.of_type("SubscriptionConfirmation"))[0]
    assert confirmation["TopicArn"] == topic and confirmation["Token"]
    listed = c["sns"].list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == ["PendingConfirmation"]
    c["sns"].publish(TopicArn=topic, Message="before confirmation")  # nobody gets this one
    with pytest.raises(ClientError) as bad_token:
        c["sns"].confirm_subscription(TopicArn=topic, Token="0" * 64)
    assert bad_token.value.response["Error"]["Code"] == "InvalidParameter"
    # the SubscribeURL, as an endpoint's code visits it (an unsigned GET)
    with urllib.request.urlopen(confirmation["SubscribeURL"]) as visited:
        assert b"ConfirmSubscriptionResult" in visited.read()
    arn = c["sns"].confirm_subscription(TopicArn=topic, Token=confirmation["Token"])[
        "SubscriptionArn"]  # fmt: skip
    attributes = c["sns"].get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false" and attributes["Protocol"] == "http"
    # retries: SNS's delivery policy, here quick (two retries one second apart)
    c["sns"].set_subscription_attributes(
        SubscriptionArn=arn, AttributeName="DeliveryPolicy",
        AttributeValue=json.dumps({"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1,
                                                          "maxDelayTarget": 1}}),
    )  # fmt: skip
    c["sns"].publish(TopicArn=topic, Message="hello", Subject="greeting")
    notes = wait_for(lambda: endpoint.of_type("Notification")[2:], timeout=20)
    note = notes[0]
    assert (note["Message"], note["Subject"], note["TopicArn"]) == ("hello", "greeting", topic)
    assert len(endpoint.of_type("Notification")) == 3  # two 500s, then delivered once
    headers = [h for h, b in endpoint.posts if b.get("Type") == "Notification"][-1]
    assert headers["x-amz-sns-subscription-arn"] == arn
    assert all(b["Message"] != "before confirmation" for b in endpoint.of_type("Notification"))
    endpoint.server.shutdown()


def test_http_raw_delivery_dead_letters_after_its_retries(c: dict[str, Any]) -> None:
    endpoint = _Endpoint(fail=100)  # never accepts a notification
    topic = c["sns"].create_topic(Name=unique("raw-hooks"))["TopicArn"]
    dlq_url, dlq_arn = queue(c)
    arn = c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url,
                             ReturnSubscriptionArn=True)["SubscriptionArn"]  # fmt: skip
    assert arn.startswith(topic + ":")
    first = wait_for(lambda: endpoint.of_type("SubscriptionConfirmation"))[0]
    # subscribing again while pending sends the confirmation again, with the same token
    c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    again = wait_for(lambda: endpoint.of_type("SubscriptionConfirmation")[1:])[0]
    assert again["Token"] == first["Token"]
    c["sns"].confirm_subscription(TopicArn=topic, Token=first["Token"])
    bad: list[tuple[str, str]] = [
        ("DeliveryPolicy", '{"healthyRetryPolicy": {"numRetries": "x"}}'),
        ("DeliveryPolicy", '{"healthyRetryPolicy": {"numRetries": 1000}}'),
        ("DeliveryPolicy", "[1]"),
    ]
    for name, value in bad:
        with pytest.raises(ClientError) as refused:
            c["sns"].set_subscription_attributes(SubscriptionArn=arn, AttributeName=name,
                                                 AttributeValue=value)  # fmt: skip
        assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    with pytest.raises(ClientError) as bad_url:
        c["sns"].subscribe(TopicArn=topic, Protocol="http", Endpoint="http://[::1/x")
    assert bad_url.value.response["Error"]["Code"] == "InvalidParameter"
    for name, value in (
        ("RawMessageDelivery", "true"),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": dlq_arn})),
        ("DeliveryPolicy", json.dumps({"healthyRetryPolicy": {
            "numRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 1}})),
    ):  # fmt: skip
        c["sns"].set_subscription_attributes(SubscriptionArn=arn, AttributeName=name,
                                             AttributeValue=value)  # fmt: skip
    c["sns"].publish(TopicArn=topic, Message="not json at all")
    (dead,) = drain(c, dlq_url, 1)
    assert dead["Body"] == "not json at all"
    posts = [(h, b) for h, b in endpoint.posts if h["x-amz-sns-message-type"] == "Notification"]
    assert len(posts) == 2  # the first attempt and one retry
    assert posts[0][0]["x-amz-sns-rawdelivery"] == "true" and posts[0][0]["x-amz-sns-message-id"]
    endpoint.server.shutdown()

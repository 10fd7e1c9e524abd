"""SNS's messages without HTTP: what Publish may carry, filter policies, delivery shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from firebox.topics import messages
from firebox.topics.errors import SnsError
from firebox.topics.records import Message, Subscription

TOPIC = "arn:aws:sns:us-east-1:000000000000:t"


def sub(protocol: str = "sqs", **attributes: str) -> Subscription:
    return Subscription(f"{TOPIC}:s", TOPIC, protocol, "arn:aws:sqs:us-east-1:0:q", attributes)


def attrs(**values: Any) -> dict[str, dict[str, str]]:
    out = {}
    for key, value in values.items():
        kind = "Number" if isinstance(value, int | float) else "String"
        out[key] = {"DataType": kind, "StringValue": str(value)}
    return out


@pytest.mark.parametrize(("message", "fifo", "reason"), [
    (Message(""), False, "Empty message"),
    (Message("x" * (256 * 1024 + 1)), False, "too long"),
    (Message("m", subject=""), False, "Subject"),
    (Message("m", attributes={"n": {"DataType": "Number", "StringValue": "abc"}}), False,
     "cast"),
    (Message("m", attributes={"n": {"DataType": "Weird", "StringValue": "1"}}), False, "type"),
    (Message("not json", structure="json"), False, "failed to parse"),
    (Message('{"sqs": "x"}', structure="json"), False, "No default entry"),
    (Message("m"), True, "MessageGroupId"),
    (Message("m", group_id="g"), True, "ContentBasedDeduplication"),
    *((Message("m", attributes={"n": {"DataType": "Number", "StringValue": bad}}), False,
       "cast") for bad in ("1e1000000", "Infinity", "NaN", "sNaN", "1e-200")),
])  # fmt: skip
def test_what_publish_refuses(message: Message, fifo: bool, reason: str) -> None:
    with pytest.raises(SnsError, match=reason):
        messages.check(message, fifo, {})


def test_filter_policies_on_attributes_and_bodies() -> None:
    numeric = sub(FilterPolicy=json.dumps({"price": [{"numeric": [">=", 10]}]}))
    assert messages.accepted(numeric, Message("m", attributes=attrs(price=10)))
    assert not messages.accepted(numeric, Message("m", attributes=attrs(price=9.5)))
    assert not messages.accepted(numeric, Message("m", attributes=attrs(price="10")))  # a string
    body = sub(FilterPolicy=json.dumps({"a": {"b": ["c"]}}), FilterPolicyScope="MessageBody")
    assert messages.accepted(body, Message(json.dumps({"a": {"b": "c"}})))
    assert not messages.accepted(body, Message("not json"))
    binary = sub(FilterPolicy=json.dumps({"blob": [{"exists": True}]}))
    blob = {"blob": {"DataType": "Binary", "BinaryValue": "AAEC"}}
    assert not messages.accepted(binary, Message("m", attributes=blob))  # binary never matches
    assert messages.accepted(sub(), Message("m"))  # no policy: everything


def test_delivery_shapes() -> None:
    message = Message("hi", subject="s", attributes=attrs(k="v"))
    event = json.loads(messages.delivery(sub("lambda"), TOPIC, message, "id", "T", "us-east-1",
                                         "0").body)["Records"][0]  # fmt: skip
    assert event["EventSource"] == "aws:sns" and event["Sns"]["Subject"] == "s"
    assert event["Sns"]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}
    assert {"SigningCertUrl", "UnsubscribeUrl"} <= set(event["Sns"])
    envelope = json.loads(messages.delivery(sub(), TOPIC, Message("hi"), "id", "T", "r",
                                            "0").body)  # fmt: skip
    assert "Subject" not in envelope and "MessageAttributes" not in envelope
    assert {"SigningCertURL", "UnsubscribeURL"} <= set(envelope)
    raw = messages.delivery(sub(RawMessageDelivery="true"), TOPIC, message, "id", "T", "r", "0")
    assert raw.body == "hi" and json.loads(raw.attributes)["k"]["StringValue"] == "v"
    per_protocol = Message(json.dumps({"default": "d", "lambda": "for functions"}),
                           structure="json")  # fmt: skip
    assert json.loads(messages.delivery(sub("lambda"), TOPIC, per_protocol, "i", "T", "r",
                                        "0").body)["Records"][0]["Sns"]["Message"] == (
        "for functions")  # fmt: skip
    assert json.loads(messages.delivery(sub(), TOPIC, per_protocol, "i", "T", "r", "0").body)[
        "Message"] == "d"  # fmt: skip


def test_publishes_are_on_disk_before_anything_is_delivered(tmp_path: Any) -> None:
    """What Publish answered is stored: a store reopened (a restart) still holds every
    delivery the forwarder had not handed on."""
    import asyncio

    from firebox.topics.service import TopicService
    from firebox.topics.store import SqliteTopicStore

    async def publish() -> None:
        service = TopicService(SqliteTopicStore(tmp_path / "sns.sqlite3"), "us-east-1", "0")
        service.load()
        topic = await service.create_topic("t", {}, {})
        for queue in ("a", "b"):
            await service.subscribe(topic.arn, "sqs", f"arn:aws:sqs:us-east-1:000000000000:{queue}",
                                    {})  # fmt: skip
        for body in ("one", "two", "three"):
            await service.publish(topic.arn, Message(body))
        service.close()  # no forwarder ever ran

    asyncio.run(publish())
    reopened = TopicService(SqliteTopicStore(tmp_path / "sns.sqlite3"), "us-east-1", "0")
    reopened.load()
    pending = reopened.pending()
    assert len(pending) == 6 and len(reopened.subscriptions()) == 2
    assert [json.loads(d.body)["Message"] for d in pending][::2] == ["one", "two", "three"]
    reopened.close()

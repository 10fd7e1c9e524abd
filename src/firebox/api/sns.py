"""SNS over the query protocol: topics, subscriptions, Publish and PublishBatch, tags."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.operation import BodyTooLarge, authorize
from firebox.api.query import (
    QueryMap,
    checked,
    query_error_response,
    query_response,
    read_action,
    too_large,
)
from firebox.domain.errors import LambdaError
from firebox.topics.errors import SnsError, invalid
from firebox.topics.records import Message
from firebox.topics.service import Published, TopicService

NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"
MAX_BODY = 2 * 1024 * 1024  # a PublishBatch of 256 KB, form-encoded
Handler = Callable[[TopicService, dict[str, str]], Awaitable[dict[str, Any] | None]]


def _map(params: dict[str, str], prefix: str) -> dict[str, str]:
    """`Attributes.entry.N.key` / `.value` pairs."""
    out: dict[str, str] = {}
    n = 1
    while f"{prefix}.entry.{n}.key" in params:
        out[params[f"{prefix}.entry.{n}.key"]] = params.get(f"{prefix}.entry.{n}.value", "")
        n += 1
    return out


def _message_attributes(params: dict[str, str], prefix: str) -> dict[str, dict[str, str]]:
    """`MessageAttributes.entry.N.Name` with `.Value.DataType` / `.StringValue` / …"""
    out: dict[str, dict[str, str]] = {}
    n = 1
    while f"{prefix}.entry.{n}.Name" in params:
        base = f"{prefix}.entry.{n}.Value."
        out[params[f"{prefix}.entry.{n}.Name"]] = {
            k: params[base + k] for k in ("DataType", "StringValue", "BinaryValue")
            if base + k in params
        }  # fmt: skip
        n += 1
    return out


def _list(params: dict[str, str], prefix: str) -> list[str]:
    out = []
    n = 1
    while f"{prefix}.member.{n}" in params:
        out.append(params[f"{prefix}.member.{n}"])
        n += 1
    return out


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise invalid(f"{name}")
    return value


async def create_topic(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    tags = {t["Key"]: t["Value"] for t in checked("sns", "CreateTopic", p).get("Tags", [])}
    topic = await topics.create_topic(_required(p, "Name"), _map(p, "Attributes"), tags)
    return {"TopicArn": topic.arn}


async def delete_topic(topics: TopicService, p: dict[str, str]) -> None:
    await topics.delete_topic(_required(p, "TopicArn"))


async def list_topics(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    page, token = topics.topics(p.get("NextToken"))
    return {"Topics": [{"TopicArn": t.arn} for t in page], "NextToken": token}


async def get_topic_attributes(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    return {"Attributes": QueryMap(topics.topic_attributes(_required(p, "TopicArn")))}


async def set_topic_attributes(topics: TopicService, p: dict[str, str]) -> None:
    await topics.set_topic_attribute(_required(p, "TopicArn"), _required(p, "AttributeName"),
                                     p.get("AttributeValue", ""))  # fmt: skip


async def subscribe(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    sub = await topics.subscribe(_required(p, "TopicArn"), _required(p, "Protocol"),
                                 p.get("Endpoint", ""), _map(p, "Attributes"))  # fmt: skip
    show = sub.confirmed or p.get("ReturnSubscriptionArn", "").lower() == "true"
    return {"SubscriptionArn": sub.arn if show else "pending confirmation"}


async def confirm_subscription(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    sub = await topics.confirm(_required(p, "TopicArn"), _required(p, "Token"))
    return {"SubscriptionArn": sub.arn}


async def unsubscribe(topics: TopicService, p: dict[str, str]) -> None:
    await topics.unsubscribe(_required(p, "SubscriptionArn"))


def _subscriptions(subs: list[Any]) -> list[dict[str, str]]:
    return [{"SubscriptionArn": "PendingConfirmation" if s.pending else s.arn,
             "Owner": s.topic_arn.split(":")[4], "Protocol": s.protocol, "Endpoint": s.endpoint,
             "TopicArn": s.topic_arn}
            for s in subs]  # fmt: skip


async def list_subscriptions(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    return {"Subscriptions": _subscriptions(topics.subscriptions())}


async def list_subscriptions_by_topic(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    return {"Subscriptions": _subscriptions(topics.subscriptions(_required(p, "TopicArn")))}


async def get_subscription_attributes(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    arn = _required(p, "SubscriptionArn")
    return {"Attributes": QueryMap(topics.subscription_attributes(arn))}


async def set_subscription_attributes(topics: TopicService, p: dict[str, str]) -> None:
    await topics.set_subscription_attribute(
        _required(p, "SubscriptionArn"), _required(p, "AttributeName"),
        p.get("AttributeValue", ""),
    )  # fmt: skip


def _message(p: dict[str, str], prefix: str = "") -> Message:
    return Message(
        body=p.get(f"{prefix}Message", ""), subject=p.get(f"{prefix}Subject"),
        attributes=_message_attributes(p, f"{prefix}MessageAttributes"),
        structure=p.get(f"{prefix}MessageStructure"), group_id=p.get(f"{prefix}MessageGroupId"),
        dedup_id=p.get(f"{prefix}MessageDeduplicationId"),
    )  # fmt: skip


def _target(p: dict[str, str]) -> str:
    arn = p.get("TopicArn") or p.get("TargetArn")
    if not arn:
        raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
    return arn


async def publish(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    published = await topics.publish(_target(p), _message(p))
    return {"MessageId": published.message_id, "SequenceNumber": published.sequence_number}


async def publish_batch(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    prefix = "PublishBatchRequestEntries.member"
    ids: list[str] = []
    batch: list[Message] = []
    n = 1
    while f"{prefix}.{n}.Id" in p:
        ids.append(p[f"{prefix}.{n}.Id"])
        batch.append(_message(p, f"{prefix}.{n}."))
        n += 1
    if not batch:
        raise SnsError("EmptyBatchRequest", "The batch request doesn't contain any entries", 400)
    if len(batch) > 10:
        raise SnsError("TooManyEntriesInBatchRequest", "The batch request contains more "
                       "entries than permissible.", 400)  # fmt: skip
    if len(set(ids)) != len(ids):
        raise SnsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request "
                       "have the same Id.", 400)  # fmt: skip
    results = await topics.publish_batch(_target(p), batch)
    ok, failed = [], []
    for entry_id, result in zip(ids, results, strict=True):
        if isinstance(result, Published):
            ok.append({"Id": entry_id, "MessageId": result.message_id,
                       "SequenceNumber": result.sequence_number})  # fmt: skip
        else:
            failed.append({"Id": entry_id, "Code": result.error_type, "Message": result.message,
                           "SenderFault": True})  # fmt: skip
    return {"Successful": ok, "Failed": failed}


async def tag_resource(topics: TopicService, p: dict[str, str]) -> None:
    tags = {t["Key"]: t["Value"] for t in checked("sns", "TagResource", p).get("Tags", [])}
    await topics.tag(_required(p, "ResourceArn"), tags)


async def untag_resource(topics: TopicService, p: dict[str, str]) -> None:
    await topics.untag(_required(p, "ResourceArn"), _list(p, "TagKeys"))


async def list_tags(topics: TopicService, p: dict[str, str]) -> dict[str, Any]:
    tags = topics.tags(_required(p, "ResourceArn"))
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


ACTIONS: dict[str, Handler] = {
    "CreateTopic": create_topic, "DeleteTopic": delete_topic, "ListTopics": list_topics,
    "GetTopicAttributes": get_topic_attributes, "SetTopicAttributes": set_topic_attributes,
    "Subscribe": subscribe, "ConfirmSubscription": confirm_subscription,
    "Unsubscribe": unsubscribe, "ListSubscriptions": list_subscriptions,
    "ListSubscriptionsByTopic": list_subscriptions_by_topic,
    "GetSubscriptionAttributes": get_subscription_attributes,
    "SetSubscriptionAttributes": set_subscription_attributes, "Publish": publish,
    "PublishBatch": publish_batch, "TagResource": tag_resource,
    "UntagResource": untag_resource, "ListTagsForResource": list_tags,
}  # fmt: skip


def _resource(topics: TopicService, action: str, p: dict[str, str]) -> str:
    """The ARN an action is on, as IAM sees it (CreateTopic: the topic it makes)."""
    if action == "CreateTopic" and p.get("Name"):
        return topics.arn(p["Name"])
    return (p.get("TopicArn") or p.get("TargetArn") or p.get("ResourceArn")
            or p.get("SubscriptionArn", "*").rsplit(":", 1)[0] or "*")  # fmt: skip


async def sns_api(request: Request) -> Response:
    """A query-protocol request to SNS: `Action` from the form body or the query string."""
    try:
        caller, action, params = await read_action(request, "sns", ACTIONS, "2010-03-31",
                                                   MAX_BODY)  # fmt: skip
        topics: TopicService = request.app.state.platform.topics
        resource = _resource(topics, action, params)
        authorize(request, caller, f"sns:{action}", resource, "AuthorizationError")
        result = await ACTIONS[action](topics, params)
        return query_response(action, NAMESPACE, result or {})
    except BodyTooLarge:
        return too_large()
    except LambdaError as exc:
        return query_error_response(exc)

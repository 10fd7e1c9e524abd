"""SNS's messages: what Publish may carry, filter policies, and the shapes each subscriber
gets (the Lambda event's `Records[].Sns`, the SQS envelope, or the raw message)."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from firebox import filtering
from firebox.topics.errors import invalid
from firebox.topics.records import Delivery, Message, Subscription

log = logging.getLogger("firebox.sns")
MAX_MESSAGE = 256 * 1024
MAX_ATTRIBUTES = 10
DEFAULT_DELIVERY_POLICY = {"http": {"defaultHealthyRetryPolicy": {
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"},
    "disableSubscriptionOverrides": False, "defaultRequestPolicy": {"headerContentType":
    "text/plain; charset=UTF-8"}}}  # fmt: skip
# SNS messages are signed with Amazon's certificate; firebox's are not verifiable (noted in
# docs/compatibility.md): these say so where a signature goes.
SIGNATURE = base64.b64encode(b"firebox does not sign SNS messages").decode()


def check(message: Message, fifo: bool, topic_attributes: dict[str, str]) -> None:
    """InvalidParameter for what SNS refuses in a Publish."""
    if not message.body:
        raise invalid("Empty message")
    size = len(message.body.encode()) + sum(
        len(k) + len(json.dumps(v)) for k, v in message.attributes.items()
    )
    if size > MAX_MESSAGE:
        raise invalid("Message too long")
    if message.subject is not None and (not message.subject or len(message.subject) > 100):
        raise invalid("Subject")
    if len(message.attributes) > MAX_ATTRIBUTES:
        raise invalid("Too many message attributes")
    for name, value in message.attributes.items():
        _check_attribute(name, value)
    if message.structure is not None:
        if message.structure != "json":
            raise invalid("MessageStructure")
        try:
            parsed = json.loads(message.body)
        except ValueError:
            raise invalid("Message Structure - JSON message body failed to parse") from None
        if not isinstance(parsed, dict) or "default" not in parsed:
            raise invalid("Message Structure - No default entry in JSON message body")
    if fifo:
        if not message.group_id:
            raise invalid("The MessageGroupId parameter is required for FIFO topics")
        content_dedup = topic_attributes.get("ContentBasedDeduplication", "").lower() == "true"
        if not message.dedup_id and not content_dedup:
            raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                          "MessageDeduplicationId provided explicitly")  # fmt: skip
    # (a standard topic takes a MessageGroupId too: it goes on to SQS fair queues)


def _check_attribute(name: str, value: dict[str, str]) -> None:
    kind = value.get("DataType", "")
    if kind.split(".", 1)[0] not in ("String", "Number", "Binary"):
        raise invalid(
            f"The message attribute '{name}' has an invalid message attribute type, "
            "the set of supported type prefixes is Binary, Number, and String."
        )
    if kind.startswith("Binary"):
        if "BinaryValue" not in value:
            raise invalid(
                f"The message attribute '{name}' must contain non-empty message "
                "attribute value for message attribute type 'Binary'."
            )
        return
    text = value.get("StringValue")
    if text is None or text == "":
        raise invalid(
            f"The message attribute '{name}' must contain non-empty message "
            f"attribute value for message attribute type '{kind}'."
        )
    if kind.startswith("Number"):
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        # SNS's numbers: finite, up to 10^126 either way (anything else would cost a
        # filter's conversion more than it is worth, or not convert at all)
        if not number.is_finite() or (number and not -128 <= number.adjusted() <= 126):
            raise invalid(f"Could not cast message attribute '{name}' value to number.")
    if kind == "String.Array":
        try:
            if not isinstance(json.loads(text), list):
                raise ValueError(text)
        except ValueError:
            raise invalid(f"The message attribute '{name}' with type 'String.Array' has an "
                          "invalid value.") from None  # fmt: skip


def check_filter_policy(text: str) -> None:
    """InvalidParameter unless the filter policy is a pattern SNS accepts."""
    try:
        policy = json.loads(text)
        filtering.check(policy)
    except (ValueError, filtering.PatternError) as exc:
        raise invalid(f"Filter policy: {exc}"[:300]) from None


def _attribute_value(value: dict[str, str]) -> Any:
    kind = value.get("DataType", "")
    text = value.get("StringValue", "")
    if kind.startswith("Number"):
        return float(Decimal(text))  # bounded by check(): a float compares as SNS compares
    if kind == "String.Array":
        return json.loads(text)
    if kind.startswith("Binary"):
        return None  # filter policies never match binary attributes
    return text


def accepted(sub: Subscription, message: Message) -> bool:
    """Whether the subscription's filter policy (on attributes, or on the body) lets the
    message through. A policy that fails to evaluate lets nothing through (and is said)."""
    text = sub.attributes.get("FilterPolicy")
    if not text:
        return True
    try:
        return _accepted(sub, json.loads(text), message)
    except Exception:  # a policy the checks let through but cannot apply: never a failed Publish
        log.exception("SNS filter policy of %s could not be applied", sub.arn)
        return False


def _accepted(sub: Subscription, policy: Any, message: Message) -> bool:
    if sub.attributes.get("FilterPolicyScope") == "MessageBody":
        try:
            event = json.loads(_body_for(sub, message))
        except ValueError:
            return False
        return isinstance(event, dict) and filtering.matches(policy, event)
    event = {k: v for k, v in ((k, _attribute_value(v)) for k, v in message.attributes.items())
             if v is not None}  # fmt: skip
    return filtering.matches(policy, event)


def _body_for(sub: Subscription, message: Message) -> str:
    """The message a protocol gets (MessageStructure=json: its own entry, else default)."""
    if message.structure != "json":
        return message.body
    parsed = json.loads(message.body)
    chosen = parsed.get(sub.protocol, parsed["default"])
    return chosen if isinstance(chosen, str) else json.dumps(chosen)


def _attributes_out(message: Message) -> dict[str, dict[str, str]]:
    """Message attributes as SNS's JSON shows them: {Type, Value}."""
    out = {}
    for name, value in message.attributes.items():
        kind = value.get("DataType", "String")
        shown = value.get("BinaryValue") if kind.startswith("Binary") else value.get("StringValue")
        out[name] = {"Type": kind, "Value": str(shown or "")}
    return out


def delivery(
    sub: Subscription, topic_arn: str, message: Message, message_id: str, timestamp: str,
    region: str, account: str, sequence: str | None = None, dedup_id: str | None = None,
) -> Delivery:  # fmt: skip
    """What one subscription gets of one message, ready to hand over."""
    body = _body_for(sub, message)
    group = message.group_id if sequence else None
    dedup = dedup_id if sequence else None
    unsubscribe = (f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                   f"{sub.arn}")  # fmt: skip
    cert = f"https://sns.{region}.amazonaws.com/SimpleNotificationService-firebox.pem"
    if sub.protocol == "lambda":
        event = {"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": sub.arn,
            "Sns": {
                "Type": "Notification", "MessageId": message_id, "TopicArn": topic_arn,
                "Subject": message.subject, "Message": body, "Timestamp": timestamp,
                "SignatureVersion": "1", "Signature": SIGNATURE, "SigningCertUrl": cert,
                "UnsubscribeUrl": unsubscribe, "MessageAttributes": _attributes_out(message),
            },
        }]}  # fmt: skip
        return Delivery(sub.arn, sub.protocol, sub.endpoint, json.dumps(event))
    if sub.attributes.get("RawMessageDelivery", "false").lower() == "true":
        return Delivery(sub.arn, sub.protocol, sub.endpoint, body,
                        attributes=json.dumps(message.attributes), group_id=group,
                        dedup_id=dedup, message_id=message_id, raw=True)  # fmt: skip
    envelope: dict[str, Any] = {"Type": "Notification", "MessageId": message_id,
                                "TopicArn": topic_arn}  # fmt: skip
    if sequence:
        envelope["SequenceNumber"] = sequence
    if message.subject is not None:
        envelope["Subject"] = message.subject
    envelope.update({"Message": body, "Timestamp": timestamp, "SignatureVersion": "1",
                     "Signature": SIGNATURE, "SigningCertURL": cert,
                     "UnsubscribeURL": unsubscribe})  # fmt: skip
    if message.attributes:
        envelope["MessageAttributes"] = _attributes_out(message)
    return Delivery(sub.arn, sub.protocol, sub.endpoint, json.dumps(envelope), group_id=group,
                    dedup_id=dedup, message_id=message_id)  # fmt: skip


def confirmation(sub: Subscription, timestamp: str, region: str, endpoint: str) -> Delivery:
    """The SubscriptionConfirmation an http(s) endpoint gets: its SubscribeURL (or
    ConfirmSubscription with the Token) confirms the subscription."""
    query = urllib.parse.urlencode({"Action": "ConfirmSubscription", "TopicArn": sub.topic_arn,
                                    "Token": sub.token})  # fmt: skip
    message_id = str(uuid.uuid4())
    body = {
        "Type": "SubscriptionConfirmation", "MessageId": message_id, "Token": sub.token,
        "TopicArn": sub.topic_arn,
        "Message": f"You have chosen to subscribe to the topic {sub.topic_arn}.\nTo confirm the "
                   "subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": f"{endpoint.rstrip('/')}/?{query}", "Timestamp": timestamp,
        "SignatureVersion": "1", "Signature": SIGNATURE,
        "SigningCertURL": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-firebox.pem",
    }  # fmt: skip
    return Delivery(sub.arn, sub.protocol, sub.endpoint, json.dumps(body),
                    kind="SubscriptionConfirmation", message_id=message_id)  # fmt: skip


def check_delivery_policy(text: str) -> None:
    """A DeliveryPolicy's http retry policy, as SNS bounds it."""
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid("DeliveryPolicy: must be a JSON object") from None
    if not isinstance(policy, dict):
        raise invalid("DeliveryPolicy: must be a JSON object")
    retry = http_retry_policy(policy)
    bounds = {"numRetries": (0, 100), "numNoDelayRetries": (0, 100),
              "minDelayTarget": (1, 3600), "maxDelayTarget": (1, 3600)}  # fmt: skip
    for key, (low, high) in bounds.items():
        value = retry.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise invalid(f"DeliveryPolicy: {key} must be an integer from {low} to {high}")
    if retry.get("minDelayTarget", 1) > retry.get("maxDelayTarget", 3600):
        raise invalid("DeliveryPolicy: minDelayTarget must not exceed maxDelayTarget")


def http_retry_policy(policy: dict[str, Any]) -> dict[str, Any]:
    """The retry policy a DeliveryPolicy gives http(s) deliveries ({} when none)."""
    found = policy.get("healthyRetryPolicy")
    http = policy.get("http")
    if found is None and isinstance(http, dict):
        found = http.get("defaultHealthyRetryPolicy")
    return found if isinstance(found, dict) else {}

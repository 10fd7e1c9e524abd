"""Queue attributes: SQS's names, defaults and limits, checked as SetQueueAttributes does."""

from __future__ import annotations

import json

from firebox.queues.errors import SqsError

DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",  # 1 MiB: SQS's maximum, and its default since 2025
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}
RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1048576),
    "MessageRetentionPeriod": (60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43200),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
FREE_TEXT = ("Policy", "KmsMasterKeyId")
BOOLEANS = ("SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue")
CHOICES = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
COMPUTED = (
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
    "QueueArn",
)  # fmt: skip
SETTABLE = (*RANGES, *FREE_TEXT, *BOOLEANS, *CHOICES, "RedrivePolicy", "RedriveAllowPolicy")


def _bad(name: str, reason: str = "") -> SqsError:
    message = f"Invalid value for the parameter {name}."
    return SqsError("InvalidAttributeValue", f"{message} Reason: {reason}" if reason else message)


def check(name: str, value: str, fifo: bool) -> str:
    """The value as stored; raises InvalidAttributeName / InvalidAttributeValue."""
    if name not in SETTABLE:
        raise SqsError("InvalidAttributeName", f"Unknown Attribute {name[:100]}.")
    if name in FIFO_ONLY and not fifo:
        raise SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")
    if name in RANGES:
        low, high = RANGES[name]
        if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            raise _bad(name)
        return str(int(value))
    if name in BOOLEANS:
        if value.lower() not in ("true", "false"):
            raise _bad(name)
        return value.lower()
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise _bad(name)
        return value
    if name == "RedrivePolicy":
        return _redrive_policy(value)
    if name == "RedriveAllowPolicy":
        return _redrive_allow_policy(value)
    return value


def _json(name: str, value: str) -> dict[str, object]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise _bad(name, "Invalid JSON") from None
    if not isinstance(parsed, dict):
        raise _bad(name, "Invalid JSON")
    return parsed


def _redrive_policy(value: str) -> str:
    if value == "":
        return ""  # removes it
    policy = _json("RedrivePolicy", value)
    target, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
    if not isinstance(target, str) or not target.startswith("arn:aws:sqs:"):
        raise _bad("RedrivePolicy", "Dead letter target arn is invalid")
    try:
        receives = int(str(count))
    except ValueError:
        raise _bad("RedrivePolicy", "Invalid value for maxReceiveCount") from None
    if not 1 <= receives <= 1000:
        raise _bad("RedrivePolicy", "Value for maxReceiveCount must be between 1 and 1000")
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": receives})


def _redrive_allow_policy(value: str) -> str:
    policy = _json("RedriveAllowPolicy", value)
    permission = policy.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise _bad("RedriveAllowPolicy", "Invalid value for redrivePermission")
    sources = policy.get("sourceQueueArns", [])
    if permission == "byQueue" and not (isinstance(sources, list) and 1 <= len(sources) <= 10):
        raise _bad("RedriveAllowPolicy", "sourceQueueArns must list 1 to 10 queues for byQueue")
    if permission != "byQueue" and sources:
        raise _bad("RedriveAllowPolicy", "sourceQueueArns is only allowed with byQueue")
    return json.dumps(policy)

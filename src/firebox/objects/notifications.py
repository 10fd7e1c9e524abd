"""Bucket notifications: a configuration's rules checked as S3 checks them, matched against
what happened to an object, and the event records S3 sends."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote_plus

from firebox.objects.errors import S3Error, invalid_argument
from firebox.objects.records import BucketRecord, Notice, ObjectRecord

# The event types S3 knows (those firebox raises: ObjectCreated:* and ObjectRemoved:*).
EVENTS = frozenset({
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*",
    "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition",
    "s3:IntelligentTiering", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
})  # fmt: skip
KINDS = {"LambdaFunctionConfigurations": ("lambda", "LambdaFunctionArn"),
         "QueueConfigurations": ("sqs", "QueueArn"),
         "TopicConfigurations": ("sns", "TopicArn")}  # fmt: skip
MAX_LINEAGE = 16  # Lambda's recursive-loop detection stops a chain after 16 invokes


@dataclass(frozen=True)
class Rule:
    """One configuration: where events of these types for matching keys go."""

    id: str
    kind: str  # lambda | sqs | sns
    target: str  # the destination's ARN
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, event_name: str, key: str) -> bool:
        """Whether `event_name` (`ObjectCreated:Put`) for `key` is one of this rule's."""
        kind = event_name.split(":", 1)[0]
        wanted = f"s3:{event_name}" in self.events or f"s3:{kind}:*" in self.events
        return wanted and key.startswith(self.prefix) and key.endswith(self.suffix)


def _overlap(a: Rule, b: Rule) -> bool:
    def events(x: str, y: str) -> bool:
        return x == y or (x.endswith(":*") and y.startswith(x[:-1])) or (
            y.endswith(":*") and x.startswith(y[:-1]))  # fmt: skip

    shared = any(events(x, y) for x in a.events for y in b.events)
    prefixes = a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)
    suffixes = a.suffix.endswith(b.suffix) or b.suffix.endswith(a.suffix)
    return shared and prefixes and suffixes


def parse(config: dict[str, Any]) -> list[Rule]:
    """The rules of a NotificationConfiguration (as parsed from its XML), checked as S3
    checks them: known events, one prefix and one suffix rule at most, no two
    configurations sharing an event type for overlapping keys."""
    rules: list[Rule] = []
    for section, (kind, arn_name) in KINDS.items():
        for item in config.get(section, []):
            target = item.get(arn_name, "")
            events = tuple(item.get("Events", []))
            if not target or not events:
                raise invalid_argument(f"A {arn_name} and at least one Event are required")
            for event in events:
                if event not in EVENTS:
                    raise invalid_argument("The event is not supported for notifications")
            prefix = suffix = None
            for filter_rule in item.get("FilterRules", []):
                name = str(filter_rule.get("Name", "")).lower()
                value = str(filter_rule.get("Value", ""))
                if name == "prefix":
                    if prefix is not None:
                        raise invalid_argument("Cannot specify more than one prefix rule in a "
                                               "filter.")  # fmt: skip
                    prefix = value
                elif name == "suffix":
                    if suffix is not None:
                        raise invalid_argument("Cannot specify more than one suffix rule in a "
                                               "filter.")  # fmt: skip
                    suffix = value
                else:
                    raise invalid_argument("filter rule name must be either prefix or suffix")
            rule_id = item.get("Id") or str(uuid.uuid4())
            rules.append(Rule(rule_id, kind, target, events, prefix or "", suffix or ""))
    for i, rule in enumerate(rules):
        for other in rules[:i]:
            if _overlap(rule, other):
                raise invalid_argument("Configurations overlap. Configurations on the same "
                                       "bucket cannot share a common event type.")  # fmt: skip
    return rules


def stored(rules: list[Rule]) -> dict[str, Any]:
    return {"rules": [asdict(r) for r in rules]}


def rules_of(bucket: BucketRecord) -> list[Rule]:
    doc = bucket.notification or {}
    return [Rule(**{**r, "events": tuple(r["events"])}) for r in doc.get("rules", [])]


@dataclass(frozen=True)
class Actor:
    """Who made a change, as an event record tells it."""

    principal_id: str
    source_ip: str
    request_id: str
    lineage: int = 0  # how many notified invokes led to this request


class Sequencer:
    """S3's `sequencer`: hex, increasing with each change (to order events for a key)."""

    def __init__(self, clock_ns: Callable[[], int]) -> None:
        self._clock_ns = clock_ns
        self._last = 0

    def next(self) -> str:
        self._last = max(self._last + 1, self._clock_ns())
        return f"{self._last:018X}"


def encode_key(key: str) -> str:
    """The key as S3 writes it in events: form-URL-encoded (a space is `+`), `/` kept."""
    return quote_plus(key, safe="/*")


def record(
    rule: Rule, bucket: str, region: str, event_name: str, obj: ObjectRecord | None, key: str,
    actor: Actor, sequencer: str, when: float,
) -> dict[str, Any]:  # fmt: skip
    """One S3 event record, as S3 sends it."""
    time = datetime.datetime.fromtimestamp(when, datetime.UTC)
    described: dict[str, Any] = {"key": encode_key(key)}
    if obj is not None:
        described.update(size=obj.size, eTag=obj.etag)
    described["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z",
        "eventName": event_name,
        "userIdentity": {"principalId": actor.principal_id},
        "requestParameters": {"sourceIPAddress": actor.source_ip},
        "responseElements": {
            "x-amz-request-id": actor.request_id,
            "x-amz-id-2": f"{actor.request_id}/firebox",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": rule.id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": actor.principal_id},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": described,
        },
    }


def notices(
    bucket: BucketRecord, region: str, event_name: str, key: str, obj: ObjectRecord | None,
    actor: Actor, sequencer: Sequencer, when: float,
) -> list[Notice]:  # fmt: skip
    """The notifications a change raises: one per matching rule."""
    found = [r for r in rules_of(bucket) if r.matches(event_name, key)]
    if not found:
        return []
    seq = sequencer.next()
    notices = []
    for rule in found:
        event = record(rule, bucket.name, region, event_name, obj, key, actor, seq, when)
        body = json.dumps({"Records": [event]})
        notices.append(Notice(rule.target, rule.kind, body, lineage=actor.lineage))
    return notices


def test_event(bucket: str, request_id: str, when: float) -> str:
    """What S3 sends a queue or topic when a configuration naming it is put."""
    time = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return json.dumps({
        "Service": "Amazon S3", "Event": "s3:TestEvent",
        "Time": time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z",
        "Bucket": bucket, "RequestId": request_id, "HostId": f"{request_id}/firebox",
    })  # fmt: skip


def unvalidated(failures: list[tuple[str, str]]) -> S3Error:
    """S3's answer when a destination cannot be validated (missing, or not permitted)."""
    detail = "; ".join(f"{arn}: {why}" for arn, why in failures)
    return invalid_argument(f"Unable to validate the following destination configurations: "
                            f"{detail}")  # fmt: skip

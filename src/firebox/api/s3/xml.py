"""S3's XML: documents written (results, listings) and read (tag sets, deletes, part lists,
notification configurations)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from firebox.objects.errors import S3Error, malformed_xml

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML = 2 * 1024 * 1024  # DeleteObjects: 1,000 keys of up to 1,024 bytes, and markup


def iso(when: float) -> str:
    """S3's timestamps in XML: 2009-10-12T17:50:30.000Z."""
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_date(when: float) -> str:
    """Last-Modified and friends: Wed, 12 Oct 2009 17:50:00 GMT."""
    moment = datetime.datetime.fromtimestamp(int(when), datetime.UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def element(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def document(root: str, *parts: str) -> bytes:
    body = "".join(parts)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{body}</{root}>'
            ).encode()  # fmt: skip


def tag_set(tags: dict[str, str]) -> bytes:
    tagged = "".join(
        f"<Tag>{element('Key', k)}{element('Value', v)}</Tag>" for k, v in tags.items()
    )
    return document("Tagging", f"<TagSet>{tagged}</TagSet>")


# ----- reading --------------------------------------------------------------------------------
def parse(body: bytes) -> ET.Element:
    """A request's XML document, its namespace dropped from every tag; MalformedXML if not."""
    if not body.strip():
        raise malformed_xml()
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise malformed_xml() from None
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]
    return root


def text(node: ET.Element | None, name: str, default: str = "") -> str:
    found = node.find(name) if node is not None else None
    return (found.text or "") if found is not None else default


def read_tags(body: bytes) -> dict[str, str]:
    """A `<Tagging><TagSet><Tag>` document, checked as S3 checks object tags."""
    root = parse(body)
    tags: dict[str, str] = {}
    for tag in root.iter("Tag"):
        key, value = text(tag, "Key"), text(tag, "Value")
        if key in tags:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        tags[key] = value
    check_tags(tags)
    return tags


def check_tags(tags: dict[str, str], limit: int = 10) -> None:
    if len(tags) > limit:
        raise S3Error("BadRequest", f"Object tags cannot be greater than {limit}")
    for key, value in tags.items():
        if not key or len(key) > 128:
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > 256:
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")


def read_delete(body: bytes) -> tuple[list[tuple[str, str]], bool]:
    """DeleteObjects' `<Delete>`: (key, version id or "") of each object, and whether the
    answer is Quiet."""
    root = parse(body)
    if root.tag != "Delete":
        raise malformed_xml()
    objects = [(text(o, "Key"), text(o, "VersionId")) for o in root.findall("Object")]
    if not objects or len(objects) > 1000:
        raise malformed_xml()
    return objects, text(root, "Quiet").lower() == "true"


def read_parts(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload's parts: (number, ETag)."""
    root = parse(body)
    parts = []
    for part in root.findall("Part"):
        number = text(part, "PartNumber")
        if not number.isdigit():
            raise malformed_xml()
        parts.append((int(number), text(part, "ETag")))
    return parts


_SECTIONS = {"CloudFunctionConfiguration": ("LambdaFunctionConfigurations", "CloudFunction",
                                            "LambdaFunctionArn"),
             "QueueConfiguration": ("QueueConfigurations", "Queue", "QueueArn"),
             "TopicConfiguration": ("TopicConfigurations", "Topic", "TopicArn")}  # fmt: skip


def read_notification(body: bytes) -> dict[str, Any]:
    """A `<NotificationConfiguration>`, as the object store's notifications.parse takes it."""
    root = parse(body)
    config: dict[str, Any] = {}
    for child in root:
        section = _SECTIONS.get(str(child.tag))
        if section is None:
            if child.tag == "EventBridgeConfiguration":
                raise S3Error("NotImplemented", "firebox does not send S3 events to "
                              "EventBridge yet", 501)  # fmt: skip
            raise malformed_xml()
        name, arn_tag, arn_name = section
        config.setdefault(name, []).append({
            "Id": text(child, "Id") or None,
            arn_name: text(child, arn_tag),
            "Events": [e.text or "" for e in child.findall("Event")],
            "FilterRules": [{"Name": text(r, "Name"), "Value": text(r, "Value")}
                            for r in child.findall("Filter/S3Key/FilterRule")],
        })  # fmt: skip
    return config


def notification(rules: Iterable[Any]) -> bytes:
    """A bucket's configuration, written back as S3 writes it."""
    tags = {
        "lambda": ("CloudFunctionConfiguration", "CloudFunction"),
        "sqs": ("QueueConfiguration", "Queue"),
        "sns": ("TopicConfiguration", "Topic"),
    }
    parts = []
    for rule in rules:
        section, arn_tag = tags[rule.kind]
        filters = "".join(
            f"<FilterRule>{element('Name', n)}{element('Value', v)}</FilterRule>"
            for n, v in (("Prefix", rule.prefix), ("Suffix", rule.suffix))
            if v
        )
        parts.append(
            f"<{section}>{element('Id', rule.id)}{element(arn_tag, rule.target)}"
            + "".join(element("Event", e) for e in rule.events)
            + (f"<Filter><S3Key>{filters}</S3Key></Filter>" if filters else "")
            + f"</{section}>"
        )
    return document("NotificationConfiguration", *parts)

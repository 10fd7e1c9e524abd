"""Messages: their attributes checked as SQS checks them, and the MD5s SDKs verify."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from firebox.queues.errors import SqsError, invalid

MAX_ATTRIBUTES = 10
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # no nan, inf or 1_000
_NAME = re.compile(r"^(?!aws\.|amazon\.)(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9_.-]{1,256}$", re.I)
# The characters a message may hold (SQS's documented set).
_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Message:
    """One message of a queue, with its delivery state."""

    seq: int  # the queue's own order of arrival
    message_id: str
    body: str
    attributes: dict[str, dict[str, Any]]  # MessageAttributes, as sent
    sent: float  # epoch seconds
    sender: str
    md5_body: str
    md5_attributes: str | None
    system: dict[str, str] = field(default_factory=dict)  # AWSTraceHeader, DLQ source …
    visible_at: float = 0.0
    receive_count: int = 0
    first_receive: float = 0.0
    token: str = ""  # of its latest receive: a receipt handle names it
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    received_at: float = 0.0  # its latest receive (in memory: 12 h of visibility count from it)

    def doc(self) -> dict[str, Any]:
        """Its immutable part, as stored."""
        return {
            "message_id": self.message_id, "body": self.body, "attributes": self.attributes,
            "sent": self.sent, "sender": self.sender, "md5_body": self.md5_body,
            "md5_attributes": self.md5_attributes, "system": self.system,
            "group_id": self.group_id, "dedup_id": self.dedup_id,
            "sequence_number": self.sequence_number,
        }  # fmt: skip

    @classmethod
    def from_doc(cls, seq: int, doc: dict[str, Any], visible_at: float, receive_count: int,
                 first_receive: float, token: str) -> Message:  # fmt: skip
        return cls(seq, doc["message_id"], doc["body"], doc["attributes"], doc["sent"],
                   doc["sender"], doc["md5_body"], doc["md5_attributes"], doc["system"],
                   visible_at, receive_count, first_receive, token, doc["group_id"],
                   doc["dedup_id"], doc["sequence_number"],
                   max(first_receive, visible_at - 43200))  # fmt: skip

    def size(self) -> int:
        return len(self.body.encode()) + attributes_size(self.attributes)


def md5_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_attributes(attributes: dict[str, dict[str, Any]]) -> str | None:
    """SQS's MD5 of message attributes: name, type, transport byte and value, each
    length-prefixed, in name order (what SDKs compare with the one they computed)."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        attribute = attributes[name]
        kind = attribute["DataType"]
        digest.update(struct.pack(">I", len(name.encode())) + name.encode())
        digest.update(struct.pack(">I", len(kind.encode())) + kind.encode())
        if kind.startswith("Binary"):
            value = _binary(attribute["BinaryValue"])
            digest.update(b"\x02" + struct.pack(">I", len(value)) + value)
        else:
            text = attribute["StringValue"].encode()
            digest.update(b"\x01" + struct.pack(">I", len(text)) + text)
    return digest.hexdigest()


def _binary(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (ValueError, binascii.Error):
        raise invalid("A binary message attribute value is not valid base64.") from None


def attributes_size(attributes: dict[str, dict[str, Any]]) -> int:
    total = 0
    for name, attribute in attributes.items():
        total += len(name.encode()) + len(attribute["DataType"].encode())
        if "BinaryValue" in attribute:
            total += len(_binary(attribute["BinaryValue"]))
        else:
            total += len(str(attribute.get("StringValue", "")).encode())
    return total


def check_body(body: str) -> None:
    if not body:
        raise invalid("The request must contain the parameter MessageBody.")
    if _INVALID_CHARS.search(body):
        raise SqsError("InvalidMessageContents",
                       "Invalid characters found. Valid unicode characters are #x9 | #xA | "
                       "#xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")  # fmt: skip


def check_attributes(attributes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Message attributes as SendMessage takes them (names, types, values), normalised:
    binary values as base64 text (how they are stored and sent back in JSON)."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(f"Number of message attributes [{len(attributes)}] exceeds the allowed "
                      f"maximum [{MAX_ATTRIBUTES}].")  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for name, attribute in attributes.items():
        if not _NAME.match(name):
            raise invalid(f"Message (user) attribute name '{name[:256]}' is invalid.")
        kind = str(attribute.get("DataType", ""))
        base = kind.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid(f"The type of message (user) attribute '{name}' is invalid. You must "
                          "use only the following supported type prefixes: Binary, Number, "
                          "String.")  # fmt: skip
        if base == "Binary":
            value = attribute.get("BinaryValue")
            if value is None or not _binary(value):
                raise invalid(f"Message (user) attribute '{name}' must contain a non-empty "
                              "value of message attribute type 'Binary'.")  # fmt: skip
            out[name] = {"DataType": kind, "BinaryValue": base64.b64encode(_binary(value)).decode()}
        else:
            text = attribute.get("StringValue")
            if text is None or text == "":
                raise invalid(f"Message (user) attribute '{name}' must contain a non-empty "
                              f"value of message attribute type '{base}'.")  # fmt: skip
            if base == "Number" and not _NUMBER.fullmatch(str(text)):
                raise invalid(f"Can't cast the value of message (user) attribute "
                                  f"'{name}' to a number.")  # fmt: skip
            check_body(str(text))
            out[name] = {"DataType": kind, "StringValue": str(text)}
    return out

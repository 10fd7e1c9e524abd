"""What the object store keeps: buckets, objects, multipart uploads and their parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BucketRecord:
    name: str
    created: float
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    notification: dict[str, Any] | None = None  # a checked NotificationConfiguration


@dataclass(frozen=True)
class ObjectRecord:
    """An object's metadata; its bytes are inline in the store or in blob files (`blobs`, in
    order, of `sizes`: one for a PUT, one per part for a completed multipart upload)."""

    key: str
    size: int
    etag: str  # hex MD5, or `<md5 of part md5s>-<parts>`, without quotes
    modified: float
    content_type: str = "binary/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)  # Cache-Control, Content-Encoding…
    metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-*
    checksums: dict[str, str] = field(default_factory=dict)  # algorithm → base64
    tags: dict[str, str] = field(default_factory=dict)
    blobs: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()
    parts: int = 0  # a multipart object's part count
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class UploadRecord:
    """A multipart upload in progress: what the object will be, once completed."""

    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str = "binary/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    storage_class: str = "STANDARD"


@dataclass(frozen=True)
class PartRecord:
    upload_id: str
    number: int
    blob: str
    size: int
    etag: str
    modified: float
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    """A notification to deliver: stored with the change that caused it (one transaction),
    removed once handed to its target (a function's Event queue, or an SQS queue)."""

    target: str  # a function or queue ARN
    kind: str  # "lambda" | "sqs"
    body: str  # the event, as JSON
    id: int = 0
    lineage: int = 0  # how many notified invokes led to the write (recursive-loop guard)

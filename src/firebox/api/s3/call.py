"""One S3 request, authenticated: where it points (bucket, key), who sent it, and its body as
it streams in (decoded from aws-chunked, checked against what its signature says)."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request

from firebox.api.s3.xml import MAX_XML, check_tags
from firebox.auth.sigv4 import Caller, PayloadCheck
from firebox.objects import checksums
from firebox.objects.errors import S3Error
from firebox.objects.notifications import Actor
from firebox.objects.service import NewObject

if TYPE_CHECKING:
    from firebox.platform import Platform

_LINEAGE = re.compile(r"(?:^|;)\s*Lineage=[^;:]*:(\d+)")
_SYSTEM_HEADERS = ("cache-control", "content-disposition", "content-encoding",
                   "content-language", "expires", "x-amz-website-redirect-location")  # fmt: skip


@dataclass
class S3Call:
    """An S3 request on its way to the object store."""

    request: Request
    bucket: str
    key: str
    caller: Caller | None
    check: PayloadCheck
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())
    operation: str = ""
    # Checksums the body's trailer claims: filled in once the body has been read.
    trailing: dict[str, str] = field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        platform: Platform = self.request.app.state.platform
        return platform

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def has(self, name: str) -> bool:
        return name in self.request.query_params

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    async def body(self) -> AsyncIterator[bytes]:
        """The payload as it arrives; raises if it does not match its signature (at the end,
        before the last bytes are handed on). Trailing checksums land in `trailing`."""
        async for chunk in self.request.stream():
            data = self.check.feed(chunk)
            if data:
                yield data
        trailers = self.check.finish()
        self.trailing.update(checksums.wanted(trailers))

    async def read(self, limit: int = MAX_XML) -> bytes:
        """A small body (an XML document), whole."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.body():
            size += len(chunk)
            if size > limit:
                raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
            parts.append(chunk)
        return b"".join(parts)

    def actor(self) -> Actor:
        """Who did it, as the event records of its notifications say."""
        caller = self.caller
        principal = "firebox"
        if caller is not None:
            principal = f"AWS:{caller.arn.rsplit('/', 1)[-1]}" if caller.arn else (
                f"AWS:{caller.access_key_id}")  # fmt: skip
        client = self.request.client.host if self.request.client else "127.0.0.1"
        lineage = _LINEAGE.search(self.header("x-amzn-trace-id") or "")
        return Actor(principal, client, self.request_id, int(lineage[1]) if lineage else 0)

    def new_object(self) -> NewObject:
        """What the request's headers say about the object it writes."""
        headers = self.request.headers
        metadata = {k[len("x-amz-meta-"):]: v for k, v in headers.items()
                    if k.startswith("x-amz-meta-")}  # fmt: skip
        if sum(len(k) + len(v) for k, v in metadata.items()) > 2048:
            raise S3Error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed "
                          "metadata size.")  # fmt: skip
        system = {k: headers[k] for k in _SYSTEM_HEADERS if k in headers}
        # aws-chunked is how the body travelled, not how the object is encoded
        encoding = [e.strip() for e in system.get("content-encoding", "").split(",")]
        encoding = [e for e in encoding if e and e != "aws-chunked"]
        if encoding:
            system["content-encoding"] = ",".join(encoding)
        else:
            system.pop("content-encoding", None)
        claimed = checksums.wanted(dict(headers))
        md5 = headers.get("content-md5")
        if md5 is not None:
            try:
                if len(base64.b64decode(md5, validate=True)) != 16:
                    raise ValueError(md5)
            except ValueError:
                raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") \
                    from None  # fmt: skip
            claimed["MD5"] = md5
        algorithm = headers.get("x-amz-sdk-checksum-algorithm") or headers.get(
            "x-amz-checksum-algorithm")  # fmt: skip
        trailer = headers.get("x-amz-trailer", "")
        if trailer.startswith("x-amz-checksum-"):
            algorithm = trailer[len("x-amz-checksum-") :]
        # the trailer's checksum is known at the end of the body: the same dict, filled then
        claimed.update(self.trailing)
        self.trailing = claimed
        return NewObject(
            content_type=headers.get("content-type"),
            headers=system,
            metadata=metadata,
            tags=self.tagging_header(),
            claimed=claimed,
            algorithm=checksums.check_algorithm(algorithm) if algorithm else None,
            storage_class=headers.get("x-amz-storage-class", "STANDARD"),
        )

    def tagging_header(self) -> dict[str, str]:
        raw = self.header("x-amz-tagging")
        if not raw:
            return {}
        tags = dict(parse_qsl(raw, keep_blank_values=True))
        check_tags(tags)
        return tags

"""S3's streaming bodies (`Content-Encoding: aws-chunked`): framing and chunk signatures.

With `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD` each chunk is
`<hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n`, and each signature chains the one before
it, starting from the request's own (the seed), so no chunk can be altered, dropped or
reordered; a final empty chunk closes the chain. `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (what
current SDKs send with checksums) has no chunk signatures and ends in trailing headers.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from firebox.auth.errors import IncompleteSignatureException, InvalidSignatureException

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"  # the trailer's own signature
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"  # is not checked (yet)
FORMS = (SIGNED, SIGNED_TRAILER, UNSIGNED_TRAILER)
_EMPTY_SHA = hashlib.sha256(b"").hexdigest()
MAX_CHUNK_HEADER = 4096


class MalformedChunks(IncompleteSignatureException):
    """A body that does not follow aws-chunked framing."""


@dataclass(frozen=True)
class ChunkChain:
    """What verifying a signed chunk stream needs: the request's signature and scope."""

    signing_key: bytes
    timestamp: str  # the request's X-Amz-Date
    scope: str  # date/region/service/aws4_request
    seed: str  # the request's own signature

    def next(self, previous: str, data: bytes) -> str:
        string_to_sign = "\n".join((
            "AWS4-HMAC-SHA256-PAYLOAD", self.timestamp, self.scope, previous, _EMPTY_SHA,
            hashlib.sha256(data).hexdigest(),
        ))  # fmt: skip
        return hmac.new(self.signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def decode(body: bytes, chain: ChunkChain | None = None) -> bytes:
    """The payload an aws-chunked body carries; with `chain`, every chunk signature checked
    (InvalidSignatureException on the first that does not match)."""
    out: list[bytes] = []
    previous = chain.seed if chain else ""
    position = 0
    while True:
        end = body.find(b"\r\n", position, position + MAX_CHUNK_HEADER)
        if end < 0:
            raise MalformedChunks("An aws-chunked body ended inside a chunk header")
        header = body[position:end].decode("latin-1")
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise MalformedChunks(f"Invalid chunk size: {size_text[:20]!r}") from None
        start = end + 2
        data = body[start : start + size]
        if len(data) != size:
            raise MalformedChunks("An aws-chunked body is shorter than its chunks say")
        if chain is not None:
            name, _, claimed = extension.partition("=")
            if name != "chunk-signature":
                raise MalformedChunks("A signed aws-chunked body has a chunk without signature")
            expected = chain.next(previous, data)
            if not hmac.compare_digest(expected.encode(), claimed.encode("latin-1")):
                raise InvalidSignatureException(
                    "The request signature we calculated does not match the signature you "
                    "provided (a chunk signature)."
                )
            previous = expected
        position = start + size
        if size == 0:  # the last chunk; trailing headers (checksums) may follow
            return b"".join(out)
        if body[position : position + 2] != b"\r\n":
            raise MalformedChunks("A chunk's data is not followed by CRLF")
        position += 2
        out.append(data)

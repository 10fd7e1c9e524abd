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

    def next(self, previous: str, data_sha256: str) -> str:
        """The signature of the chunk after `previous` whose data hashes to `data_sha256`."""
        string_to_sign = "\n".join((
            "AWS4-HMAC-SHA256-PAYLOAD", self.timestamp, self.scope, previous, _EMPTY_SHA,
            data_sha256,
        ))  # fmt: skip
        return hmac.new(self.signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class Decoder:
    """Decodes an aws-chunked body as it arrives: `feed` returns the payload bytes so far
    (never holding more than a chunk header), `finish` checks it ended properly and returns
    its trailing headers. With a chain, each chunk's signature is checked as it completes
    (InvalidSignatureException on the first that does not match)."""

    def __init__(self, chain: ChunkChain | None = None) -> None:
        self._chain = chain
        self._previous = chain.seed if chain else ""
        self._pending = bytearray()  # an incomplete header line, CRLF or trailer
        self._state = "header"  # header | data | crlf | trailer | done
        self._remaining = 0
        self._claimed = ""
        self._hash = hashlib.sha256()
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        view = memoryview(data)
        while view:
            if self._state == "data":
                take = view[: self._remaining]
                view = view[len(take) :]
                self._remaining -= len(take)
                if self._chain is not None:
                    self._hash.update(take)
                out.append(bytes(take))
                if self._remaining == 0:
                    self._end_chunk()
                continue
            if self._state == "done":
                raise MalformedChunks("An aws-chunked body goes on after its last chunk")
            self._pending += view
            view = memoryview(b"")
            self._parse_pending()
            if self._state == "data" and self._pending:
                view, self._pending = memoryview(bytes(self._pending)), bytearray()
        return b"".join(out)

    def _parse_pending(self) -> None:
        """Consumes header lines, CRLFs and trailers from the pending bytes."""
        while self._state in ("header", "crlf", "trailer"):
            end = self._pending.find(b"\r\n")
            if end < 0:
                if len(self._pending) > MAX_CHUNK_HEADER:
                    raise MalformedChunks("An aws-chunked body has a chunk header too long")
                return
            line = bytes(self._pending[:end]).decode("latin-1")
            del self._pending[: end + 2]
            if self._state == "crlf":
                if line:
                    raise MalformedChunks("A chunk's data is not followed by CRLF")
                self._state = "header"
            elif self._state == "header":
                self._start_chunk(line)
                if self._state == "data":
                    return
            elif line:  # a trailing header
                name, _, value = line.partition(":")
                self.trailers[name.strip().lower()] = value.strip()
            else:
                self._state = "done"

    def _start_chunk(self, header: str) -> None:
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise MalformedChunks(f"Invalid chunk size: {size_text[:20]!r}") from None
        if self._chain is not None:
            name, _, claimed = extension.partition("=")
            if name != "chunk-signature":
                raise MalformedChunks("A signed aws-chunked body has a chunk without signature")
            self._claimed = claimed
        self._hash = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._end_chunk()
        else:
            self._state = "data"

    def _end_chunk(self) -> None:
        last = self._remaining == 0 and self._state != "data"
        if self._chain is not None:
            expected = self._chain.next(self._previous, self._hash.hexdigest())
            if not hmac.compare_digest(expected.encode(), self._claimed.encode("latin-1")):
                raise InvalidSignatureException(
                    "The request signature we calculated does not match the signature you "
                    "provided (a chunk signature)."
                )
            self._previous = expected
        # the last (empty) chunk: trailing headers (checksums) may follow, then an empty line
        self._state = "trailer" if last else "crlf"

    def finish(self) -> dict[str, str]:
        """The trailing headers, once the body ended where its framing says it ends."""
        if self._state == "trailer" and not self._pending:
            self._state = "done"  # no trailer section at all (the older signed form)
        if self._state != "done":
            raise MalformedChunks("An aws-chunked body is shorter than its chunks say")
        return self.trailers


def decode(body: bytes, chain: ChunkChain | None = None) -> bytes:
    """The payload a whole aws-chunked body carries (see Decoder)."""
    decoder = Decoder(chain)
    payload = decoder.feed(body)
    decoder.finish()
    return payload

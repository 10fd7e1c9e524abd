"""The HTTP edge: what a request must meet before the app sees it.

uvicorn's httptools protocol reads a request's header section to its end however large it
grows, and waits forever for a request that never completes. Here, with the same parser:

- the header section (request line and fields) is cut off at `max_header_bytes` and answered
  with 431 before the rest is read;
- a connection must complete its request's header section within `header_timeout_s` of
  opening, or of its first byte after an idle keep-alive (answered with 408, then closed);
- a request body must keep arriving: no byte for `body_timeout_s` (while the app waits for
  it) closes the connection;
- malformed HTTP gets a JSON answer, not text;
- such an answer is followed by a lingering close: the server stops writing, then reads and
  drops what the client is still sending (at most `LINGER_BYTES`, for `LINGER_S`) before it
  closes, so the client's TCP stack does not reset the connection (losing the answer) over
  data nobody read.

Between requests uvicorn's keep-alive timeout still applies.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("firebox.api")
LINGER_S = 1.0
LINGER_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class EdgeLimits:
    """Limits every request meets at the HTTP edge (docs/security.md gives the defaults)."""

    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing an oversized header section."""


_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def edge_answer(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, as JSON every SDK parses."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return b"".join([
        b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
        b"content-type: application/json\r\n",
        b"x-amzn-errortype: %s\r\n" % code.encode(),
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n\r\n",
        body,
    ])  # fmt: skip


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with firebox's edge limits (see the module docstring)."""

    limits = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True
        self._raw_header_bytes = 0  # bytes received while this request's headers are awaited
        self._parsed_header_bytes = 0  # the request line and fields, as parsed
        self._too_large = False
        self._in_body = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._lingering = -1  # bytes still to drop before closing; -1: not closing

    # ----- the connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering >= 0:
            self._lingering -= len(data)
            if self._lingering < 0:
                self.transport.close()
            return
        if self._awaiting_headers:
            self._raw_header_bytes += len(data)
            if self._header_timer is None:
                self._arm_header_timer()
        elif self._in_body:
            self._arm_body_timer()  # progress: the body timeout starts again
        super().data_received(data)
        # A header section still incomplete but over the limit: answered before more is read.
        if (
            self._awaiting_headers
            and self._raw_header_bytes > self.limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._too_large = True
            self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to what its parser refuses (and, here, to an oversized header).
        if self._too_large:
            message = f"The request's header section exceeds {self.limits.max_header_bytes} bytes."
            answer = edge_answer(431, "RequestHeaderSectionTooLarge", message)
        else:
            answer = edge_answer(400, "BadRequest", msg or "Invalid HTTP request received.")
        self._close_with(answer)

    # ----- parser callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._parsed_header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._raw_header_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._in_body = True
        self._arm_body_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._awaiting_headers = True  # what comes next is the next request's
        super().on_message_complete()

    def _count(self, size: int) -> None:
        self._parsed_header_bytes += size
        if self._parsed_header_bytes > self.limits.max_header_bytes:
            self._too_large = True
            raise _HeadersTooLarge  # the parser stops; uvicorn calls send_400_response

    # ----- timeouts ----------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(
            self.limits.header_timeout_s, self._header_timeout
        )

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_header_timer()  # a pipelined request waits for the one before it
            return
        timeout = self.limits.header_timeout_s
        log.debug("firebox: closed a connection whose request did not arrive in %gs", timeout)
        self._close_with(edge_answer(
            408, "RequestTimeout", f"The request's headers did not arrive within {timeout:g}s."
        ))  # fmt: skip

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_timeout)

    def _body_timeout(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._in_body:
            return
        if self.flow.read_paused:
            self._arm_body_timer()  # the app is not reading yet: not the client's delay
            return
        log.debug("firebox: closed a connection whose request body stalled for %gs",
                  self.limits.body_timeout_s)  # fmt: skip
        self.transport.close()  # the app waiting for the body sees the client gone

    def _close_with(self, answer: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()  # mid-answer: nothing more can be said on this connection
            return
        self.transport.write(answer)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer, then FIN: the lingering close
        self._lingering = LINGER_BYTES
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None
        self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol uvicorn builds for each connection, with these limits."""
    return cast(type[EdgeProtocol], type("EdgeProtocol", (EdgeProtocol,), {"limits": limits}))

"""The Lambda Runtime API served to one environment, on a listener only it can reach.

A hand-rolled asyncio protocol on httptools rather than the ASGI stack: this sits on the
warm-invoke hot path twice per invocation, and the API is four fixed routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import socket
from collections.abc import Sequence
from typing import Protocol, cast

import httptools

PREFIX = b"/2018-06-01/runtime/"
EXTENSION = b"/2020-01-01/extension/"
TELEMETRY = b"/2022-07-01/telemetry"
MAX_BODY_BYTES = 6291556  # Lambda's response limit; larger bodies are counted, not kept
# A runtime needs one or two connections; more are refused so that a function cannot use up
# the server's file descriptors by connecting to its own Runtime API over and over.
MAX_CONNECTIONS = 16
_INVOCATION_RE = re.compile(rb"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")
_REASONS = {200: b"OK", 202: b"Accepted", 400: b"Bad Request", 403: b"Forbidden",
            404: b"Not Found", 405: b"Method Not Allowed", 409: b"Conflict",
            413: b"Payload Too Large", 500: b"Internal Server Error"}  # fmt: skip


class RuntimeApiHandler(Protocol):
    """What the environment does with each Runtime API call."""

    runtime_api_connections: int  # open connections, counted by the connections themselves

    def on_next(self, responder: Responder) -> None:
        """The runtime asks for its next event; answer now or park the responder."""

    def on_response(self, request_id: str, body: bytes, size: int) -> tuple[int, bytes]:
        """The runtime posts a result (body is empty if size is over the limit)."""

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        """The runtime posts a function error."""

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        """The runtime failed to initialise."""

    def on_stream_start(self, request_id: str, content_type: str) -> None:
        """A streamed response begins (its Content-Type says what it holds)."""

    def on_stream_chunk(self, request_id: str, chunk: bytes) -> None:
        """A piece of a streamed response (response mode "streaming"), as it arrives."""

    def on_stream_end(
        self, request_id: str, error_type: str | None = None, error: bytes = b""
    ) -> tuple[int, bytes]:
        """The streamed response is complete; or it failed after it began, the runtime says
        in its trailers (the error's type, and its document)."""

    def on_extension_register(
        self, name: str, body: bytes, accept: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """An extension registers (Extensions API): status, body and headers to answer."""

    def on_extension_next(self, identifier: str, responder: Responder) -> None:
        """An extension asks for its next event; answer now or park the responder."""

    def on_extension_error(
        self, identifier: str, kind: str, error_type: str | None, body: bytes
    ) -> tuple[int, bytes]:
        """An extension reports an error: kind "init" or "exit"."""

    def on_telemetry_subscribe(self, identifier: str, body: bytes) -> tuple[int, bytes]:
        """An extension subscribes to telemetry (PUT /2022-07-01/telemetry)."""


def status_body(status: str) -> bytes:
    return json.dumps({"status": status}).encode()


def error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Responder:
    """Answers one parked or immediate request on a connection."""

    __slots__ = ("_connection",)

    def __init__(self, connection: RuntimeApiConnection) -> None:
        self._connection = connection

    @property
    def open(self) -> bool:
        return not self._connection.closed

    def send(self, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self._connection.write_response(status, body, headers)


class RuntimeApiConnection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection from the runtime."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._headers: dict[bytes, bytes] = {}
        self._streaming: str | None = None  # request id of a response being streamed
        self.closed = False
        self._counted = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        if self._handler.runtime_api_connections >= MAX_CONNECTIONS:
            self.closed = True
            transport.abort()
            return
        self._handler.runtime_api_connections += 1
        self._counted = True
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without TCP_NODELAY each small response waits ~40 ms for delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._counted:
            self._counted = False
            self._handler.runtime_api_connections -= 1

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.write_response(400, error_body("InvalidRequest", "malformed HTTP"), ())
            self.close()

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []
        self._size = 0
        self._headers = {}
        self._streaming = None

    def on_headers_complete(self) -> None:
        mode = self._headers.get(b"lambda-runtime-function-response-mode", b"").lower()
        if mode == b"streaming" and self._parser.get_method() == b"POST":
            match = _INVOCATION_RE.match(self._url.split(b"?", 1)[0])
            if match is not None and match[2] == b"response":
                self._streaming = match[1].decode("latin-1")
                content_type = self._headers.get(b"content-type", b"").decode("latin-1")
                self._handler.on_stream_start(self._streaming, content_type)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        if self._streaming is not None:  # passed on as it comes, never gathered here
            self._handler.on_stream_chunk(self._streaming, body)
            return
        self._size += len(body)
        if self._size <= MAX_BODY_BYTES:  # a runaway function must not fill the server's memory
            self._body.append(body)
        else:
            self._body = []

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0]
        body = b"".join(self._body)
        if not path.startswith(PREFIX):
            self._extension_call(method, path, body)
            return
        error_type = self._headers.get(b"lambda-runtime-function-error-type")
        error_type_s = error_type.decode("latin-1") if error_type else None
        if path == b"/2018-06-01/runtime/invocation/next":
            if method != b"GET":
                self.write_response(405, error_body("InvalidRequest", "use GET"), ())
                return
            self._handler.on_next(Responder(self))
            return
        if method != b"POST":
            self.write_response(404, error_body("InvalidRequest", "unknown route"), ())
            return
        if path == b"/2018-06-01/runtime/init/error":
            status, reply = self._handler.on_init_error(body, error_type_s)
        else:
            match = _INVOCATION_RE.match(path)
            if match is None:
                self.write_response(404, error_body("InvalidRequest", "unknown route"), ())
                return
            request_id = match[1].decode("latin-1")
            if self._streaming is not None:
                # Trailers, as AWS's runtimes send a failure after the stream began: the
                # error's type, and its document in base64.
                encoded = self._headers.get(b"lambda-runtime-function-error-body", b"")
                try:
                    error = base64.b64decode(encoded, validate=True)
                except (binascii.Error, ValueError):
                    error = encoded
                status, reply = self._handler.on_stream_end(request_id, error_type_s, error)
            elif match[2] == b"response":
                status, reply = self._handler.on_response(request_id, body, self._size)
            else:
                status, reply = self._handler.on_error(request_id, body, error_type_s)
        self.write_response(status, reply, ())

    def _extension_call(self, method: bytes, path: bytes, body: bytes) -> None:
        """The Extensions API and the Telemetry API, on the same listener."""
        identifier = self._headers.get(b"lambda-extension-identifier", b"").decode("latin-1")
        headers: list[tuple[bytes, bytes]] = []
        if path == EXTENSION + b"register" and method == b"POST":
            name = self._headers.get(b"lambda-extension-name", b"").decode("latin-1")
            accept = self._headers.get(b"lambda-extension-accept-feature", b"").decode("latin-1")
            status, reply, headers = self._handler.on_extension_register(name, body, accept)
        elif path == EXTENSION + b"event/next" and method == b"GET":
            self._handler.on_extension_next(identifier, Responder(self))
            return
        elif path in (EXTENSION + b"init/error", EXTENSION + b"exit/error") and method == b"POST":
            kind = "init" if path.endswith(b"init/error") else "exit"
            error_type = self._headers.get(b"lambda-extension-function-error-type")
            status, reply = self._handler.on_extension_error(
                identifier, kind, error_type.decode("latin-1") if error_type else None, body
            )
        elif path == TELEMETRY and method == b"PUT":
            status, reply = self._handler.on_telemetry_subscribe(identifier, body)
        else:
            status, reply = 404, error_body("InvalidRequest", "unknown route")
        self.write_response(status, reply, headers)

    def write_response(
        self, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]]
    ) -> None:
        if self._transport is None or self.closed:
            return
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
        head.append(b"Content-Type: application/json\r\n")
        for name, value in headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        self._transport.write(b"".join(head) + body)

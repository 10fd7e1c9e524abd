"""The Telemetry API of one environment: extensions subscribe (PUT /2022-07-01/telemetry) and
receive platform events and the function's log lines, batched as they asked, over HTTP to a
listener inside their sandbox (`sandbox.localdomain` is the environment's own address)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from firebox.domain.records import utc_stamp
from firebox.sandboxes.networks import SERVER_MARK
from firebox.worker.extensions import ExtensionError

log = logging.getLogger("firebox.telemetry")
SO_MARK = getattr(socket, "SO_MARK", 36)
SCHEMAS = ("2022-07-01", "2022-12-13", "2025-01-29")
TYPES = ("platform", "function", "extension")
LOCAL_NAMES = ("sandbox.localdomain", "sandbox", "localhost", "127.0.0.1")
HISTORY = 1000  # events kept from the start of init for those who subscribe during it
HISTORY_BYTES = 1024 * 1024  # … and at most this much of them
BACKLOG = 4  # while a batch is on its way, at most this many batches' bytes wait; then dropped
# (lowest, highest, default) as AWS documents them
LIMITS = {"maxItems": (1000, 10000, 10000), "maxBytes": (262144, 1048576, 262144),
          "timeoutMs": (25, 30000, 1000)}  # fmt: skip


def _invalid(message: str) -> ExtensionError:
    return ExtensionError(400, "ValidationError", message)


@dataclass
class Subscriber:
    extension: str
    url: str
    types: frozenset[str]
    max_items: int
    max_bytes: int
    timeout_s: float
    buffer: list[bytes] = field(default_factory=list)
    size: int = 0
    timer: asyncio.TimerHandle | None = None
    sending: asyncio.Task[None] | None = None
    dropped: int = 0  # events dropped while its listener lagged


async def post(url: str, body: bytes) -> int:
    """POSTs JSON to a listener inside a sandbox; returns the status. The socket is marked
    before it connects (the server's bridge lets only the server's marked connections in;
    httpx would mark it only once connected)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if not host.startswith("127."):
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, SERVER_MARK)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    try:
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:80]!r}")
        return int(fields[1])
    finally:
        writer.close()


class Telemetry:
    """Subscriptions, the events buffered for each, and their delivery."""

    def __init__(self, address: Callable[[], str | None],
                 clock: Callable[[], float]) -> None:  # fmt: skip
        self.address = address  # the environment's own address, as seen from the server
        self.clock = clock
        self.subscribers: list[Subscriber] = []
        self.history: list[tuple[str, bytes]] = []  # (category, event) since init began
        self.keep_history = True
        self._history_bytes = 0

    def subscribe(self, extension: str, body: bytes) -> None:
        try:
            request: Any = json.loads(body or b"{}")
        except ValueError:
            raise _invalid("The body must be JSON") from None
        if not isinstance(request, dict):
            raise _invalid("The body must be a JSON object")
        if request.get("schemaVersion") not in SCHEMAS:
            raise _invalid(f"schemaVersion must be one of {', '.join(SCHEMAS)}")
        types = request.get("types")
        if not isinstance(types, list) or not types or any(t not in TYPES for t in types):
            raise _invalid(f"types must be a list of {', '.join(TYPES)}")
        destination = request.get("destination")
        if not isinstance(destination, dict) or destination.get("protocol") != "HTTP":
            raise _invalid("destination must be {\"protocol\": \"HTTP\", \"URI\": …} (firebox "
                           "does not deliver over TCP)")  # fmt: skip
        url = str(destination.get("URI", ""))
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:  # not a port number
            port = None
        if parts.scheme != "http" or parts.hostname not in LOCAL_NAMES or not port:
            raise _invalid("destination.URI must be http://sandbox.localdomain:PORT/…")
        address = self.address()
        if address is None:
            raise ExtensionError(
                400,
                "Telemetry.Unsupported",
                "this environment's network cannot be reached from firebox",
            )
        resolved = urlunsplit(("http", f"{address}:{port}", parts.path or "/",
                               parts.query, ""))  # fmt: skip
        buffering = request.get("buffering") or {}
        limits = []
        for name, (low, high, default) in LIMITS.items():
            value = buffering.get(name, default) if isinstance(buffering, dict) else None
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise _invalid(f"buffering.{name} must be an integer from {low} to {high}")
            limits.append(value)
        subscriber = Subscriber(extension, resolved, frozenset(types), limits[0], limits[1],
                                limits[2] / 1000)  # fmt: skip
        again = False
        for old in [s for s in self.subscribers if s.extension == extension]:
            again = True  # a new subscription replaces the old one
            self._stop(old)
            self.subscribers.remove(old)
        self.subscribers.append(subscriber)
        if not again:  # what happened since init began, once
            for category, event in self.history:
                if category in subscriber.types:
                    self._add(subscriber, event)
        self.emit("platform.telemetrySubscription",
                  {"name": extension, "state": "Subscribed", "types": types})  # fmt: skip

    def emit(self, kind: str, record: object, at: float | None = None) -> None:
        """One event: `platform.*` with its record, or `function` / `extension` log text."""
        category = "platform" if kind.startswith("platform.") else kind
        event = json.dumps({"time": utc_stamp(at or self.clock()), "type": kind,
                            "record": record}).encode()  # fmt: skip
        room = len(self.history) < HISTORY and self._history_bytes + len(event) <= HISTORY_BYTES
        if self.keep_history and room:
            self.history.append((category, event))
            self._history_bytes += len(event)
        for subscriber in self.subscribers:
            if category in subscriber.types:
                self._add(subscriber, event)

    def end_history(self) -> None:
        """Init is over: nobody subscribes any more, the history goes."""
        self.keep_history = False
        self.history = []

    def _add(self, subscriber: Subscriber, event: bytes) -> None:
        if subscriber.sending is not None and subscriber.size > BACKLOG * subscriber.max_bytes:
            subscriber.dropped += 1  # its listener is slower than the function writes
            return
        subscriber.buffer.append(event)
        subscriber.size += len(event) + 1
        if (
            len(subscriber.buffer) >= subscriber.max_items
            or subscriber.size >= subscriber.max_bytes
        ):
            self._flush(subscriber)
        elif subscriber.timer is None:
            loop = asyncio.get_running_loop()
            subscriber.timer = loop.call_later(subscriber.timeout_s, self._flush, subscriber)

    def flush(self) -> None:
        """Sends every subscriber what it has buffered, now."""
        for subscriber in self.subscribers:
            self._flush(subscriber)

    def _flush(self, subscriber: Subscriber) -> None:
        if subscriber.timer is not None:
            subscriber.timer.cancel()
            subscriber.timer = None
        if not subscriber.buffer or subscriber.sending is not None:
            return  # the send in flight takes the rest when it is done
        batch, subscriber.buffer, subscriber.size = subscriber.buffer, [], 0
        loop = asyncio.get_running_loop()
        subscriber.sending = loop.create_task(self._post(subscriber, batch))

    async def _post(self, subscriber: Subscriber, batch: list[bytes]) -> None:
        try:
            body = b"[" + b",".join(batch) + b"]"
            await asyncio.wait_for(post(subscriber.url, body), 5.0)
        except (OSError, TimeoutError, ValueError) as exc:  # it stopped listening: batch lost
            log.debug("telemetry for %s not delivered: %r", subscriber.extension, exc)
        finally:
            subscriber.sending = None
        if subscriber.buffer:
            self._flush(subscriber)

    async def drain(self, timeout_s: float = 1.0) -> None:
        """Delivers what is buffered (the environment is shutting down)."""
        for subscriber in self.subscribers:
            self._flush(subscriber)
        sending = [s.sending for s in self.subscribers if s.sending is not None]
        if sending:
            await asyncio.wait(sending, timeout=timeout_s)

    @staticmethod
    def _stop(subscriber: Subscriber) -> None:
        if subscriber.timer is not None:
            subscriber.timer.cancel()
        if subscriber.sending is not None:
            subscriber.sending.cancel()

    def close(self) -> None:
        for subscriber in self.subscribers:
            self._stop(subscriber)
        self.subscribers = []

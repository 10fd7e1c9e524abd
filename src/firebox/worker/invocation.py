"""One invocation in flight, and what it produced."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from firebox.domain.types import JSONDict

MAX_STREAM_BYTES = 20 * 1024 * 1024  # Lambda's (soft) limit for a streamed response
# A streamed response of this type starts with its HTTP metadata (Node's HttpResponseStream):
# a JSON object, then eight NUL bytes. It is passed on whole, as the first chunk.
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\x00" * 8
MAX_PRELUDE_BYTES = 64 * 1024


@dataclass(frozen=True)
class InvocationResult:
    """The outcome of one invocation, as the Invoke API reports it."""

    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    request_id: str
    log_text: str
    executed_version: str
    environment_id: str
    duration_ms: float
    init_duration_ms: float | None
    provisioned: bool = False  # ran in a provisioned environment

    def log_tail(self, limit: int = 4096) -> bytes:
        """The last 4 KB of the invocation's log, as X-Amz-Log-Result carries it."""
        return self.log_text.encode()[-limit:]


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Invocation:
    """An event on its way through an environment."""

    payload: bytes
    client_context: str | None = None
    trace_id: str | None = None
    invoked_arn: str | None = None  # the ARN the caller used: qualified by alias or version
    request_id: str = field(default_factory=new_request_id)
    future: asyncio.Future[InvocationResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    delivered_at: float = 0.0  # monotonic; 0 until the runtime has the event
    deadline_ms: int = 0  # epoch ms, as Lambda-Runtime-Deadline-Ms
    # (epoch ms, line): its log lines (all stored as they came), for the log tail
    lines: list[tuple[int, str]] = field(default_factory=list)
    # Streaming: told about each chunk of a streamed response as it arrives.
    on_chunk: Callable[[bytes], None] | None = None
    streamed: list[bytes] = field(default_factory=list)
    streamed_size: int = 0
    # An http-integration stream's start, gathered until its prelude is whole (None: passed)
    prelude: bytearray | None = None

    def start_stream(self, content_type: str) -> None:
        """A streamed response begins; one with HTTP metadata has its prelude gathered."""
        if content_type.split(";")[0].strip().lower() == HTTP_INTEGRATION:
            self.prelude = bytearray()

    def add_chunk(self, chunk: bytes) -> None:
        """Keeps (within the streaming limit) and passes on one streamed piece."""
        if self.prelude is not None:
            self.prelude += chunk
            if PRELUDE_DELIMITER not in self.prelude and len(self.prelude) <= MAX_PRELUDE_BYTES:
                return  # the metadata goes on in one piece, however it was sent
            chunk, self.prelude = bytes(self.prelude), None
        self._pass(chunk)

    def end_stream(self) -> None:
        """The stream ended: what was gathered goes on."""
        if self.prelude is not None:
            chunk, self.prelude = bytes(self.prelude), None
            self._pass(chunk)

    def _pass(self, chunk: bytes) -> None:
        self.streamed_size += len(chunk)
        if self.streamed_size > MAX_STREAM_BYTES:
            return
        self.streamed.append(chunk)
        if self.on_chunk is not None:
            self.on_chunk(chunk)

    @property
    def delivered(self) -> bool:
        return self.delivered_at > 0


def error_payload(error_type: str | None, message: str, **extra: object) -> bytes:
    """A function error body in the shape the AWS runtimes use."""
    body: JSONDict = {"errorMessage": message}
    if error_type:
        body["errorType"] = error_type
    body.update(extra)
    return json.dumps(body).encode()


_SIGNAL_NAMES = {
    signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated", signal.SIGBUS: "bus error", signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "floating point exception", signal.SIGINT: "interrupt",
}  # fmt: skip


def describe_exit(status: int) -> str:
    """Words for an exit status, as Lambda's Runtime.ExitError messages put them."""
    if status >= 0:
        return f"exit status {status}"
    try:
        name = _SIGNAL_NAMES.get(signal.Signals(-status), signal.Signals(-status).name)
    except ValueError:  # real-time signals have no name
        name = str(-status)
    return f"signal: {name}"


def as_error_body(body: bytes, error_type: str | None) -> bytes:
    """Passes a runtime's error document through, or wraps one that is not JSON."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return body
    return error_payload(error_type or "Runtime.Unknown", body.decode("utf-8", "replace"))


def trace_id() -> str:
    """An X-Ray trace header for invocations that came without one."""
    root = f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"
    return f"Root={root};Parent={os.urandom(8).hex()};Sampled=0"

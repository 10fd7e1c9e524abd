"""The server's own failures: logged once with a reference id, answered in an AWS envelope.

A client must never get a text/plain 500 that botocore cannot parse: every operation renders
its failures in its own service's envelope (operation.py), and `Faults`, outermost, catches
what escapes anything else (HTTP serving, middleware, a request cancelled at shutdown).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
import sqlite3

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("firebox.api")


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def report(exc: BaseException, request: Request | None = None, scope: Scope | None = None) -> str:
    """Logs one line for a failure (the traceback at debug level) and returns its reference."""
    ref = secrets.token_hex(6)
    scope = scope if scope is not None else (request.scope if request is not None else {})
    where = f"{scope.get('method', '?')} {scope.get('path', '?')}"[:200]
    log.error("firebox: internal error %s in %s: %s: %s", ref, where, type(exc).__name__,
              str(exc)[:300])  # fmt: skip
    log.debug("internal error %s", ref, exc_info=exc)
    return ref


def message(exc: BaseException, ref: str) -> str:
    """What the client is told: what happened in a word, and the reference to the log line."""
    if _disk_full(exc):
        return f"firebox could not store the request: its disk is full (reference {ref})"
    if isinstance(exc, asyncio.CancelledError):
        return f"firebox is stopping: the request was ended (reference {ref})"
    return f"firebox failed to handle the request (reference {ref}); the server log says why"


def envelope(scope: Scope, text: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A 500 in the protocol the request spoke: JSON 1.x (X-Amz-Target), or Lambda's."""
    headers = dict(scope.get("headers", []))
    request_id = secrets.token_hex(16).encode()
    if b"x-amz-target" in headers:
        body = json.dumps({"__type": "ServiceUnavailableException", "message": text}).encode()
        content_type = b"application/x-amz-json-1.1"
        extra: list[tuple[bytes, bytes]] = []
    else:
        body = json.dumps({"Type": "Service", "Message": text}).encode()
        content_type = b"application/json"
        extra = [(b"x-amzn-errortype", b"ServiceException")]
    return (
        500,
        [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", request_id),
            (b"connection", b"close"),
            *extra,
        ],
        body,
    )


class Faults:
    """Outermost: whatever escapes the app goes out as a 500 in the request's envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except ClientDisconnect:
            return  # the client left: nobody to answer
        except (Exception, asyncio.CancelledError) as exc:
            # CancelledError: the server's backstop at shutdown cancelled the request; it is
            # answered, not re-raised (which would only add uvicorn's text/plain 500 and a
            # traceback), and the task ends here as it was asked to.
            ref = report(exc, scope=scope)
            if started:
                return  # mid-answer: the connection is closed by the server
            status, headers, body = envelope(scope, message(exc, ref))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

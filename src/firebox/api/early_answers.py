"""Keeps a keep-alive connection in step when the answer comes before the request's body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A body up to this size that nobody read is skipped as it arrives; beyond it (or of unknown
# size), skipping would mean reading it all for nothing: the connection is closed instead.
SKIPPABLE_BODY = 64 * 1024


def _close_if_unread(scope: Scope) -> bool:
    """Whether an answer before the body is read must close the connection."""
    for name, value in scope["headers"]:
        if name == b"expect" and value.lower() == b"100-continue":
            return True
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and not (value.isdigit() and int(value) <= SKIPPABLE_BODY):
            return True
    return False


class CloseAfterUnreadBody:
    """Closes the connection after a response sent before the request's body was read to its
    end.

    An answer can come first: a 404, a validation error, a body over its operation's cap. A
    client that sent `Expect: 100-continue` (S3 uploaders, curl for large bodies) then never
    sends its body, but the server's parser still expects Content-Length bytes and would take
    the client's next request on that connection for them: the request is lost and the client
    hangs. Any other client keeps sending a body nobody will read, 200 MB of it perhaps: a
    small one is skipped as it arrives and the connection kept; a large one (or one of
    unknown size) ends the connection too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _close_if_unread(scope):
            await self.app(scope, receive, send)
            return
        body_read = False

        async def tracked_receive() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not body_read:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, tracked_receive, guarded_send)

"""Keeps a keep-alive connection in step when the answer comes before the request's body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _expects_continue(scope: Scope) -> bool:
    return any(
        name == b"expect" and value.lower() == b"100-continue" for name, value in scope["headers"]
    )


class CloseAfterUnreadContinue:
    """Closes the connection after a response sent before an `Expect: 100-continue` body was
    read to its end.

    Such a client (S3 uploaders, curl for large bodies) sends its body only once told to go
    ahead, which the server does when the app first reads it. Answered early instead (a 404, a
    validation error), the client never sends it, but the server's parser still expects
    Content-Length bytes and would take the client's next request on that connection for
    them: the request is lost and the client hangs. Closing ends that. (Without the Expect
    header the body comes anyway, and the server discards it as it arrives.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _expects_continue(scope):
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

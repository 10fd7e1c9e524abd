"""The AWS APIs inside an environment: a listener in its sandbox, served by the HTTP layer.

An isolated environment cannot reach the server's port (that is the point of its network
namespace), so its sandbox holds a listener of its own on 127.0.0.1, which the server accepts
on. The worker knows nothing of HTTP: the server plugs its protocol in here at start-up.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

# (the listener, the access key id of the environment's credentials) → the server on it
Serve = Callable[[socket.socket, str], Awaitable[asyncio.AbstractServer]]


class ApiDoor:
    """How an environment's AWS API listener gets served; nothing is, until `attach`."""

    def __init__(self) -> None:
        self._serve: Serve | None = None

    def attach(self, serve: Serve) -> None:
        self._serve = serve

    @property
    def open(self) -> bool:
        return self._serve is not None

    async def serve(self, sock: socket.socket, identity: str) -> asyncio.AbstractServer | None:
        """Serves the AWS APIs on `sock` to the environment whose credentials' access key id
        is `identity`: only calls signed with credentials firebox issued are taken there
        (closed instead when nothing is attached)."""
        if self._serve is None:
            sock.close()
            return None
        try:
            return await self._serve(sock, identity)
        except BaseException:
            sock.close()
            raise

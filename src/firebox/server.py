"""Runs the ASGI app under uvicorn (uvloop + httptools), and stops it the way firebox does."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from firebox.api.app import create_app, create_environment_app
from firebox.api.edge import EdgeLimits, protocol_class
from firebox.api.operation import ENVIRONMENT_STATE
from firebox.config import Settings
from firebox.platform import Platform
from firebox.worker.api_door import Serve

log = logging.getLogger("firebox")


class _HideForceQuitHint(logging.Filter):
    """uvicorn's "(CTRL+C to force quit)" lines: here a second Ctrl-C does something else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "CTRL+C" not in record.getMessage()


class Server(uvicorn.Server):
    """uvicorn's server, stopped in firebox's three steps.

    First signal (Ctrl-C, SIGTERM): accept nothing new, start no queued Event invoke, and give
    the invokes in flight up to `shutdown_timeout_s` to finish, saying so. Second signal, or
    the timeout: end those invokes now; each caller gets a Lambda-style error, as when an
    environment dies (uvicorn's own second Ctrl-C cancels the requests: HTTP 500s and a
    traceback each). Third: stop without cleaning up. A stop is not an error: the process
    exits 0 (uvicorn re-raises the signal once stopped, so every stop ended in exit 130).
    """

    def __init__(self, config: uvicorn.Config, platform: Platform, shutdown_timeout_s: float):
        super().__init__(config)
        self.platform = platform
        self.shutdown_timeout_s = shutdown_timeout_s
        self._signals = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline: asyncio.TimerHandle | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it only records, and leaves the work to the event loop.
        self._signals += 1
        self.should_exit = True
        if self._signals >= 3:
            self.force_exit = True
        elif self._loop is not None:
            step = self._stopping if self._signals == 1 else self._end_now
            self._loop.call_soon_threadsafe(step, signal.Signals(sig).name)

    def _stopping(self, signal_name: str) -> None:
        running = self.platform.stop_starting_work()
        timeout = self.shutdown_timeout_s
        if running:
            log.warning(
                "firebox: stopping (%s): %d invoke%s in flight may take up to %gs to finish "
                "(--shutdown-timeout); Ctrl-C again ends them now",
                signal_name, running, "" if running == 1 else "s", timeout,
            )  # fmt: skip
        else:
            log.info("firebox: stopping (%s)", signal_name)
        assert self._loop is not None
        self._deadline = self._loop.call_later(
            timeout, self._end_now, f"--shutdown-timeout of {timeout:g}s over"
        )

    def _end_now(self, why: str) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        ended = self.platform.end_invokes("firebox is stopping")
        if ended:
            log.warning("firebox: stopping now (%s): ended %d invoke%s in flight", why, ended,
                        "" if ended == 1 else "s")  # fmt: skip


def run(settings: Settings, log_level: str = "info", shutdown_timeout_s: float = 10.0) -> None:
    """Serves until stopped; environments are stopped on the way out."""
    logging.basicConfig(level=log_level.upper(), format="%(message)s")
    logging.getLogger("uvicorn.error").addFilter(_HideForceQuitHint())
    platform = Platform(settings)
    app = create_app(platform)
    limits = EdgeLimits(settings.max_header_bytes, settings.header_timeout_s,
                        settings.body_timeout_s)  # fmt: skip
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_class(limits),  # httptools, with firebox's edge limits
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=75,
        # Only a backstop: firebox ends the invokes in flight at its own timeout (above), and
        # their answers close the connections; uvicorn's would cancel them (HTTP 500s).
        timeout_graceful_shutdown=int(shutdown_timeout_s) + 5,
    )
    server = Server(config, platform, shutdown_timeout_s)
    platform.api_door.attach(_environment_door(server, create_environment_app(platform), limits))
    server.run()


def _environment_door(server: Server, app: ASGIApp, limits: EdgeLimits) -> Serve:
    """Serves an environment's AWS API listener with uvicorn's protocol, as the main port."""
    config = uvicorn.Config(app, http=protocol_class(limits), lifespan="off", access_log=False,
                            timeout_keep_alive=75)  # fmt: skip
    config.load()

    async def serve(sock: socket.socket, identity: str) -> asyncio.AbstractServer:
        # Every request's scope["state"] starts from app_state: it says whose listener it is.
        state = {ENVIRONMENT_STATE: identity}

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server.server_state, app_state=state
            )

        return await asyncio.get_running_loop().create_server(protocol, sock=sock)

    return serve

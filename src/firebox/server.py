"""Runs the ASGI app under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import logging

import uvicorn

from firebox.api.app import create_app
from firebox.config import Settings
from firebox.platform import Platform


def run(settings: Settings, log_level: str = "info") -> None:
    """Serves until interrupted; environments are stopped on the way out."""
    logging.basicConfig(level=log_level.upper(), format="%(message)s")
    platform = Platform(settings)
    app = create_app(platform)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=75,
        # On SIGTERM, invokes in flight get this long to finish; then their environments are
        # stopped (queued Event invokes stay queued and run after the next start).
        timeout_graceful_shutdown=10,
        # Invoke payloads go up to 6 MB and create-function bodies to ~70 MB of base64.
        h11_max_incomplete_event_size=None,
    )
    server = uvicorn.Server(config)
    server.run()

"""The ASGI application: routes, error envelopes, and the platform's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from firebox.api import (
    admin,
    concurrency,
    event_configs,
    function_urls,
    functions,
    invocations,
    logs,
    releases,
    rollouts,
    streaming,
    web,
)
from firebox.api.early_answers import CloseAfterUnreadContinue
from firebox.api.responses import lambda_error_handler, not_found_handler
from firebox.domain.errors import LambdaError
from firebox.platform import Platform


def api_routes(http_prefix: str) -> list[BaseRoute]:
    """Every route the server answers, in matching order."""
    return [
        *invocations.routes,
        *streaming.routes,
        *functions.routes,
        *releases.routes,
        *rollouts.routes,
        *event_configs.routes,
        *concurrency.routes,
        *function_urls.routes,
        *web.routes(http_prefix),
        *logs.routes,
        *admin.routes,
    ]


def create_app(platform: Platform) -> Starlette:
    """Builds the app around an already-constructed platform."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        platform.start()
        try:
            yield
        finally:
            await platform.close()

    app = Starlette(
        routes=api_routes(platform.settings.http_prefix),
        exception_handlers={
            LambdaError: lambda_error_handler,
            404: not_found_handler,
            405: not_found_handler,
        },
        lifespan=lifespan,
        middleware=[Middleware(CloseAfterUnreadContinue), Middleware(web.HostDispatch)],
    )
    app.state.platform = platform
    return app

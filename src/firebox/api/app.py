"""The ASGI application: routes, error envelopes, and the platform's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from firebox.api import admin, cost, rollouts, root, services, stacks, web
from firebox.api.early_answers import CloseAfterUnreadBody
from firebox.api.envelopes import unknown_operation_handler
from firebox.api.faults import Faults
from firebox.api.responses import lambda_error_handler
from firebox.api.s3.dispatch import S3Dispatch
from firebox.api.validation import extend_enum
from firebox.domain.errors import LambdaError
from firebox.platform import Platform


def _service_routes() -> list[BaseRoute]:
    return [route for service in services.SERVICES for route in service.routes]


def api_routes(http_prefix: str) -> list[BaseRoute]:
    """Every route the server answers, in matching order."""
    return [
        *_service_routes(),
        *rollouts.routes,
        *stacks.routes,
        *cost.routes,
        *web.routes(http_prefix),
        *root.routes,
        *admin.routes,
    ]


def aws_routes() -> list[BaseRoute]:
    """The AWS APIs alone: what an environment's own listener serves (no firebox admin API,
    no function URLs or HTTP routes, no console)."""
    routes = [*_service_routes(), *root.routes]
    # Some services' modules also serve firebox's own views (/_firebox/queue): not AWS APIs.
    return [r for r in routes if not getattr(r, "path", "").startswith("/_firebox")]


def create_environment_app(platform: Platform) -> Starlette:
    """The app behind every environment's AWS endpoint (worker/api_door.py): the server's
    own app without its lifespan, reduced to the AWS APIs."""
    app = Starlette(
        routes=aws_routes(),
        exception_handlers=_HANDLERS,
        middleware=[Middleware(Faults), Middleware(CloseAfterUnreadBody), Middleware(S3Dispatch)],
    )
    app.router.redirect_slashes = False
    app.state.platform = platform
    return app


_HANDLERS = {
    LambdaError: lambda_error_handler,
    404: unknown_operation_handler,
    405: unknown_operation_handler,
}


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
        exception_handlers=_HANDLERS,
        lifespan=lifespan,
        middleware=[
            Middleware(Faults),
            Middleware(CloseAfterUnreadBody),
            Middleware(web.HostDispatch),
            Middleware(S3Dispatch),
        ],
    )
    # `/functions/..%2f` is no operation: answered as one (404), not redirected to another.
    app.router.redirect_slashes = False
    app.state.platform = platform
    extend_enum("Runtime", platform.settings.runtime_interpreters)
    return app

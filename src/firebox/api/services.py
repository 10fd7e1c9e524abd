"""The service registry: every AWS service firebox serves, in one place.

A service is its SigV4 signing name, the protocol its SDKs speak, its operations and what
handles them. REST services (Lambda; S3 and the Scheduler later) bring their routes, which
the app mounts in registry order; the others come in through `/` (root.py), which finds them
here by `X-Amz-Target` prefix, by the credential scope, or by the query `Action`. Adding a
service is adding an entry: neither the router nor the app changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from firebox.api import (
    cloudwatch,
    concurrency,
    event_configs,
    event_sources,
    events,
    function_urls,
    functions,
    iam,
    invocations,
    layers,
    logs,
    permissions,
    releases,
    scheduler,
    sns,
    sqs,
    sqs_query,
    streaming,
    sts,
)
from firebox.api.s3 import routes as s3_routes

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Service:
    """One AWS service as firebox serves it."""

    name: str  # the SigV4 signing name
    protocol: str  # rest-json | json | query | rest-xml | smithy-rpc-v2-cbor
    operations: frozenset[str]
    endpoint: Endpoint | None = None  # json and query services: what `/` hands requests to
    target_prefix: str = ""  # json services: the X-Amz-Target prefix
    routes: tuple[BaseRoute, ...] = ()  # REST services: their routes, in matching order
    query: bool = False  # takes the query protocol's `Action=` forms too (SQS's older one)


def _operations(routes: Sequence[BaseRoute]) -> frozenset[str]:
    """The operations a REST service's routes serve (as their @operation declares them)."""
    endpoints = [getattr(r, "endpoint", None) for r in routes]
    names = [getattr(e, "operation", None) for e in endpoints]
    names += [n for e in endpoints for n in getattr(e, "operations", ())]  # dispatchers'
    return frozenset(n for n in names if n)


_LAMBDA: list[BaseRoute] = [
    *invocations.routes, *streaming.routes, *functions.routes, *releases.routes,
    *event_configs.routes, *concurrency.routes, *function_urls.routes, *permissions.routes,
    *event_sources.routes, *layers.routes,
]  # fmt: skip

SERVICES = [
    # (event_configs also serves firebox's /_firebox/queue: the app keeps it out of the
    # environments' AWS endpoint)
    Service("lambda", "rest-json", _operations(_LAMBDA), routes=tuple(_LAMBDA)),
    Service("logs", "json", frozenset(logs.OPERATIONS), logs.logs_api, logs.TARGET_PREFIX),
    Service("sts", "query", frozenset(sts.ACTIONS), sts.sts_api, query=True),
    # SQS: JSON 1.0 at `/`, and its older query protocol at `/` or the queue's own URL.
    Service(
        "sqs",
        "json",
        frozenset(sqs.ACTIONS),
        sqs_query.sqs_api,
        sqs.TARGET_PREFIX,
        (Route("/{account:int}/{queue}", sqs_query.sqs_query, methods=["GET", "POST"]),),
        query=True,
    ),
    Service("iam", "query", frozenset(iam.ACTIONS), iam.iam_api, query=True),
    Service("sns", "query", frozenset(sns.ACTIONS), sns.sns_api, query=True),
    Service(
        "events", "json", frozenset(events.OPERATIONS), events.events_api, events.TARGET_PREFIX
    ),
    Service(
        "scheduler", "rest-json", _operations(scheduler.routes), routes=tuple(scheduler.routes)
    ),
    # CloudWatch: JSON 1.0 and query at `/`, Smithy RPC v2 CBOR on its own path.
    Service(
        "monitoring",
        "smithy-rpc-v2-cbor",
        frozenset(cloudwatch.OPERATIONS),
        cloudwatch.cloudwatch_api,
        cloudwatch.TARGET_PREFIX,
        tuple(cloudwatch.routes),
        query=True,
    ),
    # S3: recognised by host, signature or bucket before any route (api/s3/dispatch.py).
    Service("s3", "rest-xml", s3_routes.OPERATIONS),
]

BY_TARGET = {s.target_prefix.rstrip("."): s for s in SERVICES if s.target_prefix}
BY_NAME = {s.name: s for s in SERVICES}


def by_action(action: str) -> Service | None:
    """The query service with this Action, for an unsigned request that names none."""
    return next((s for s in SERVICES if s.query and action in s.operations), None)

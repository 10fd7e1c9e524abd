"""`/`: the door the JSON-target and query protocols share, routed to their service.

JSON 1.0/1.1 services name the operation in `X-Amz-Target` (`Logs_20140328.FilterLogEvents`);
query services (STS, and later IAM and SNS) send a form with `Action=…`, their service named by
the SigV4 credential scope. Each service registers here; the router itself knows no operation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import logs, sts
from firebox.api.operation import BodyTooLarge, read_body
from firebox.api.query import MAX_QUERY_BODY, QueryError, query_error_response, too_large
from firebox.api.responses import json11_error_response
from firebox.domain.errors import LambdaError

Endpoint = Callable[[Request], Awaitable[Response]]

# X-Amz-Target prefix → the service's endpoint (it dispatches on the operation itself).
JSON_SERVICES: dict[str, Endpoint] = {"Logs_20140328": logs.logs_api}
# signing name → (endpoint, its actions): for requests whose scope or Action names it.
QUERY_SERVICES: dict[str, tuple[Endpoint, set[str]]] = {"sts": (sts.sts_api, set(sts.ACTIONS))}


class UnknownOperationException(LambdaError):
    status = 400
    error_type = "UnknownOperationException"


async def root(request: Request) -> Response:
    target = request.headers.get("x-amz-target")
    if target is not None:
        endpoint = JSON_SERVICES.get(target.partition(".")[0])
        if endpoint is None:
            message = f"Unknown target {target[:100]}: no service of firebox has this prefix"
            return json11_error_response(UnknownOperationException(message))
        return await endpoint(request)
    service = _scope_service(request.headers.get("authorization", ""))
    if service in QUERY_SERVICES:
        return await QUERY_SERVICES[service][0](request)
    try:  # unsigned: the service that has this Action
        body = await read_body(request, MAX_QUERY_BODY)
    except BodyTooLarge:
        return too_large()
    action = (parse_qs(body.decode("utf-8", "replace")).get("Action")
              or [request.query_params.get("Action", "")])[0]  # fmt: skip
    for endpoint, actions in QUERY_SERVICES.values():
        if action in actions:
            return await endpoint(request)
    named = f"service {service}" if service else "any service of firebox"
    return query_error_response(
        QueryError("InvalidAction", f"Could not find operation {action[:100]} in {named}")
    )


def _scope_service(authorization: str) -> str:
    """The service of a SigV4 credential scope (`Credential=KEY/DATE/REGION/SERVICE/…`)."""
    _, found, rest = authorization.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/") if found else []
    return parts[3] if len(parts) >= 4 else ""


routes = [Route("/", root, methods=["POST", "GET"])]

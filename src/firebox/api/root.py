"""`/`: the door the JSON-target and query protocols share, routed to their service.

JSON 1.0/1.1 services name the operation in `X-Amz-Target` (`Logs_20140328.FilterLogEvents`);
query services (STS, IAM; SNS later) send a form with `Action=…`, their service named by the
SigV4 credential scope. Services are found in the registry (services.py); the router itself
knows no operation.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import services
from firebox.api.envelopes import scope_service, unknown_operation
from firebox.api.operation import BodyTooLarge, read_body
from firebox.api.query import MAX_QUERY_BODY, QueryError, query_error_response, too_large


async def root(request: Request) -> Response:
    target = request.headers.get("x-amz-target")
    if target is not None:
        service = services.BY_TARGET.get(target.partition(".")[0])
        if service is None or service.endpoint is None:
            return await unknown_operation(request)
        return await service.endpoint(request)
    name = scope_service(request.headers.get("authorization", ""))
    signed_for = services.BY_NAME.get(name)
    if signed_for is not None and signed_for.endpoint is not None:
        return await signed_for.endpoint(request)
    if name and name != "lambda":  # a service firebox does not serve (yet)
        return await unknown_operation(request)
    try:  # unsigned: the service that has this Action
        body = await read_body(request, MAX_QUERY_BODY)
    except BodyTooLarge:
        return too_large()
    action = (parse_qs(body.decode("utf-8", "replace")).get("Action")
              or [request.query_params.get("Action", "")])[0]  # fmt: skip
    found = services.by_action(action)
    if found is not None and found.endpoint is not None:
        return await found.endpoint(request)
    return query_error_response(
        QueryError(
            "InvalidAction", f"Could not find operation {action[:100]} in any service of firebox"
        )
    )


routes = [Route("/", root, methods=["POST", "GET"])]

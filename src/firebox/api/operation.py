"""The one door every API operation comes in through.

`operation(...)` turns a handler of a checked `Call` into a route endpoint. Before the handler
runs, the request is read within the operation's size cap, its JSON parsed strictly, its
members gathered from the path, query, headers and body as the operation's model places
them, and checked against the model's input shape: the handler (and the core behind it) only
ever sees members of the right types within their constraints. Anything a handler raises
goes out in the service's own error envelope; an unexpected failure too, logged once with a
reference id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.model import OperationModel, Shape
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from firebox.api import faults
from firebox.api.model import operation_model
from firebox.api.parsing import parse_json_body
from firebox.api.responses import LAMBDA, Wording
from firebox.api.validation import Checker, Compiler, TypeMismatch, Violation, describe, member_path
from firebox.auth.errors import InvalidSignatureException, UnrecognizedClientException
from firebox.auth.sigv4 import Caller, SignedRequest, Verifier
from firebox.domain.arns import FunctionRef, check_home, parse_function_ref
from firebox.domain.errors import CodedError, LambdaError
from firebox.domain.types import JSONDict
from firebox.iam.authorizer import AccessDenied
from firebox.iam.policy import Policy

if TYPE_CHECKING:
    from firebox.platform import Platform

_compilers: dict[str, Compiler] = {}


class BodyTooLarge(Exception):
    """A request body over its operation's cap."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused once past `limit` bytes (before reading, when declared)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # starlette's own cache: later reads see the same bytes
    return body


@dataclass
class Call:
    """One checked request to an operation: its members, and the request they came from."""

    request: Request
    operation: str
    params: JSONDict = field(default_factory=dict)
    caller: Caller | None = None  # who signed it (None: unsigned, in open mode)

    @property
    def platform(self) -> Platform:
        platform: Platform = self.request.app.state.platform
        return platform

    def function_ref(self, member: str = "FunctionName") -> FunctionRef:
        """The function a member names (with ?Qualifier=), which must be this server's."""
        identifier = self.params[member]
        check_home(identifier, self.platform.arns, self.operation)
        return parse_function_ref(identifier, self.params.get("Qualifier"))


Handler = Callable[[Call], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _query_value(raw: str, shape: Shape, path: str, out: list[Violation]) -> Any:
    """A query string value as its member's type; strictly ASCII digits for numbers."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        digits = raw[1:] if raw.startswith("-") else raw
        if not (digits.isascii() and digits.isdigit()):
            out.append(Violation(path, raw, "Member must be a number"))
            return None
        return int(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            out.append(Violation(path, raw, "Member must be true or false"))
            return None
        return raw == "true"
    return raw


@dataclass
class _Plan:
    """Where an operation's members come from, and the checker of its input shape."""

    check: Checker
    uri: list[tuple[str, str, Shape]]
    query: list[tuple[str, str, Shape]]
    headers: list[tuple[str, str]]
    payload: str | None  # a blob member that is the whole body (Invoke's Payload)
    json_body: bool

    @classmethod
    def build(cls, service: str, model: OperationModel) -> _Plan:
        shape = model.input_shape
        compiler = _compilers.setdefault(service, Compiler())
        if shape is None:
            return cls(lambda value, path, out: None, [], [], [], None, False)
        uri, query, headers, body_members = [], [], [], False
        payload = shape.serialization.get("payload")
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", name)
            if location == "uri":
                uri.append((name, wire_name, member))
            elif location == "querystring":
                query.append((name, wire_name, member))
            elif location == "header":
                headers.append((name, wire_name.lower()))
            elif name != payload:
                body_members = True
        return cls(compiler.checker(shape), uri, query, headers, payload, body_members)

    async def params(self, request: Request, limit: int) -> tuple[JSONDict, list[Violation]]:
        params: JSONDict = {}
        if self.payload is not None:
            params[self.payload] = await read_body(request, limit)
        elif self.json_body:
            params.update(parse_json_body(await read_body(request, limit)))
        violations: list[Violation] = []
        path_params = request.path_params
        for name, wire_name, shape in self.uri:
            if wire_name in path_params:  # typed as a query's are (a layer's VersionNumber)
                value = path_params[wire_name]
                path = member_path("", name)
                params[name] = _query_value(value, shape, path, violations)
        if self.query:
            query = request.query_params
            for name, wire_name, shape in self.query:
                if shape.type_name == "list":
                    values = query.getlist(wire_name)
                    if values:
                        params[name] = values
                elif wire_name in query:
                    params[name] = _query_value(
                        query[wire_name], shape, member_path("", name), violations
                    )
        for name, header in self.headers:
            value = request.headers.get(header)
            if value is not None:
                params[name] = value
        return params, violations


def operation(
    name: str,
    *,
    service: str = "lambda",
    wording: Wording = LAMBDA,
    max_body: int | None = None,
    wire_name: str | None = None,
) -> Callable[[Handler], Endpoint]:
    """Makes a handler of checked calls into the endpoint of one operation of a service's
    model. `max_body`: the body cap (default: the server's control-plane cap); `wire_name`:
    the operation's name in AWS's size message where it differs (Invoke: InvokeFunction)."""
    model = operation_model(service, name)  # a wrong name fails at import, not at a request
    # The services a signature may be scoped to: firebox's own API is signed as Lambda's.
    signing_names = {service, "lambda"} if service == "firebox" else {service}

    def wrap(handler: Handler) -> Endpoint:
        plan: list[_Plan] = []  # built at the first request: server start stays quick

        async def endpoint(request: Request) -> Response:
            if not plan:
                plan.append(_Plan.build(service, model))
            limit = max_body if max_body is not None else _control_plane_cap(request)
            try:
                caller = await authenticate(request, limit, signing_names)
                params, violations = await plan[0].params(request, limit)
                plan[0].check(params, "", violations)
                if violations:
                    raise wording.error("constraint", describe(violations))
                if caller is not None and caller.arn:  # a role session's: its policies decide
                    _authorize_operation(request, caller, service, name, params)
                return await handler(Call(request, name, params, caller))
            except LambdaError as exc:
                return wording.render(exc)
            except BodyTooLarge:
                message = (
                    f"Request must be smaller than {limit} bytes for the "
                    f"{wire_name or name} operation"
                )
                return wording.render(wording.error("too_large", message))
            except TypeMismatch as exc:
                where = "request body into json" if wording.protocol == "rest-json" else "request"
                message = f"Could not parse {where}: {exc.describe()}"
                return wording.render(wording.error("type", message))
            except ClientDisconnect:
                raise  # nobody to answer: the edge ends it quietly
            except Exception as exc:  # the server's own failure, never the client's
                ref = faults.report(exc, request)
                return wording.render(wording.error("internal", faults.message(exc, ref)))

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        endpoint.operation = name  # type: ignore[attr-defined]  # read by the registry
        return endpoint

    return wrap


def signed_request(request: Request, body: bytes) -> SignedRequest:
    """The pieces of a request its signature covers, as they arrived."""
    scope = request.scope
    return SignedRequest(
        request.method,
        scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
        scope.get("query_string", b"").decode("latin-1"),
        [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
        body,
    )


# scope["state"] key naming the environment whose AWS listener a request came through
# (server.py): its value is the access key id of that environment's credentials.
ENVIRONMENT_STATE = "firebox_environment"
FROM_INSIDE = (
    "Calls from inside a function must be signed with credentials firebox issued (the "
    "environment's own AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)"
)


async def authenticate(request: Request, limit: int, services: set[str]) -> Caller | None:
    """Who signed the request (as strictly as the server's mode says); raises AuthError.

    Through an environment's own listener a request must be signed with credentials firebox
    issued, whatever the mode: open mode's "any key is the account" would make every
    function the account's root."""
    verifier: Verifier = request.app.state.platform.auth
    inside = ENVIRONMENT_STATE in request.scope.get("state", {})
    if verifier.mode == "open" and "authorization" not in request.headers and not inside:
        return None  # nothing to look at: no body read, no hashing
    body = await read_body(request, limit)  # cached: the members are read from it next
    caller = verifier.verify(signed_request(request, body))
    if inside and (caller is None or not caller.verified):
        raise UnrecognizedClientException(FROM_INSIDE)
    if caller is not None and verifier.mode == "sigv4" and caller.service not in services:
        raise InvalidSignatureException(
            f"Credential should be scoped to correct service: '{sorted(services)[0]}'. "
        )
    return caller


# Operations whose IAM action is named otherwise (the rest: service:Operation).
IAM_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
               "GetLayerVersionByArn": "GetLayerVersion"}  # fmt: skip
# Layer operations and their resources, as IAM's reference gives them: PublishLayerVersion
# the layer, the listings "*", the others the layer version.


def authorize(
    request: Request,
    caller: Caller | None,
    action: str,
    resource: str,
    code: str = "AccessDeniedException",
    resource_policy: Policy | None = None,
    context: dict[str, str | list[str]] | None = None,
) -> None:
    """Lets the call through unless `--iam enforce` denies it to the caller's role session;
    the denial is raised with the protocol's `code` (AccessDeniedException, AccessDenied)."""
    if caller is None or not caller.arn:
        return
    platform: Platform = request.app.state.platform
    keys: dict[str, str | list[str]] = {
        "aws:requestedregion": caller.region or platform.settings.region,
        **({"aws:sourceip": request.client.host} if request.client else {}),
        **(context or {}),
    }
    try:
        platform.iam.check(caller.arn, action, resource, resource_policy, keys)
    except AccessDenied as exc:
        raise CodedError(code, str(exc), 403) from None


def _authorize_operation(
    request: Request, caller: Caller, service: str, name: str, params: JSONDict
) -> None:
    platform: Platform = request.app.state.platform
    resource, policy = "*", None
    identifier = params.get("FunctionName")
    if isinstance(identifier, str):
        try:
            ref = parse_function_ref(identifier, params.get("Qualifier"))
        except LambdaError:
            return  # the handler answers with what is wrong with the name
        resource = platform.arns.function(ref.name, ref.qualifier)
        policy = platform.policies.policy_for(ref.name, ref.qualifier)
    elif isinstance(params.get("Resource"), str):  # tagging: the ARN of what is tagged
        resource = str(params["Resource"])
    elif isinstance(params.get("QueueUrl"), str):  # SQS: the queue's ARN
        name = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        resource = platform.sqs.arn(name)
    elif isinstance(params.get("logGroupName"), str):
        resource = (f"arn:aws:logs:{platform.settings.region}:{platform.settings.account_id}:"
                    f"log-group:{params['logGroupName']}:*")  # fmt: skip
    elif service == "lambda" and isinstance(params.get("LayerName"), str):
        layer = str(params["LayerName"])
        layer = layer if layer.startswith("arn:") else platform.arns.layer(layer)
        version = params.get("VersionNumber")
        if name == "PublishLayerVersion" or version is None:
            resource = "*" if name == "ListLayerVersions" else layer
        else:
            resource = f"{layer}:{version}"
    elif name == "GetLayerVersionByArn" and isinstance(params.get("Arn"), str):
        resource = str(params["Arn"])
    authorize(request, caller, f"{service}:{IAM_ACTIONS.get(name, name)}", resource,
              resource_policy=policy)  # fmt: skip
    layers = params.get("Layers")
    if service == "lambda" and isinstance(layers, list):
        # Using a layer is reading it: lambda:GetLayerVersion on each, as on AWS.
        for arn in layers:
            if isinstance(arn, str):
                authorize(request, caller, "lambda:GetLayerVersion", arn)
    role = params.get("Role")
    if service == "lambda" and isinstance(role, str):
        # Giving a function a role is acting as that role: iam:PassRole on it, as on AWS.
        authorize(request, caller, "iam:PassRole", role,
                  context={"iam:passedtoservice": "lambda.amazonaws.com"})  # fmt: skip


def _control_plane_cap(request: Request) -> int:
    cap: int = request.app.state.platform.settings.max_request_bytes
    return cap

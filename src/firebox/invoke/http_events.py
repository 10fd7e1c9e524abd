"""HTTP requests as Lambda events (payload formats 2.0 and 1.0), and results as responses.

The shapes are those API Gateway and function URLs build; the core knows nothing of the web
framework: requests arrive as an `HttpRequest`, responses leave as an `HttpResponse`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from firebox.control.http_routes import Target
from firebox.domain.types import JSONDict
from firebox.worker.invocation import PRELUDE_DELIMITER

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "application/graphql")  # fmt: skip


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request as received (headers in order, names as sent)."""

    method: str
    path: str  # decoded path, after any prefix the server strips
    query: str  # the raw query string
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    domain: str  # the Host the client used, without the port


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _body(request: HttpRequest) -> tuple[str | None, bool]:
    if not request.body:
        return None, False
    content_type = next((v for k, v in request.headers if k.lower() == "content-type"), "")
    if not content_type or content_type.lower().startswith(TEXT_TYPES):
        try:
            return request.body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(request.body).decode(), True


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def event_v2(request: HttpRequest, target: Target, account_id: str) -> JSONDict:
    """Payload format 2.0 (HTTP APIs and function URLs)."""
    now = time.time()
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    query = _grouped(parse_qsl(request.query, keep_blank_values=True))
    body, encoded = _body(request)
    user_agent = headers.get("user-agent", "")
    event: JSONDict = {
        "version": "2.0",
        "routeKey": target.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": target.api_id,
            "domainName": request.domain,
            "domainPrefix": request.domain.split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": user_agent,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": target.route_key,
            "stage": target.stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if target.path_parameters:
        event["pathParameters"] = dict(target.path_parameters)
    if body is not None:
        event["body"] = body
    return event


def event_v1(request: HttpRequest, target: Target, account_id: str) -> JSONDict:
    """Payload format 1.0 (REST API proxy integration)."""
    now = time.time()
    multi_headers = _grouped(request.headers)
    query = _grouped(parse_qsl(request.query, keep_blank_values=True))
    body, encoded = _body(request)
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), "")
    return {
        "version": "1.0",
        "resource": target.resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "accountId": account_id,
            "apiId": target.api_id,
            "domainName": request.domain,
            "domainPrefix": request.domain.split(".", 1)[0],
            "extendedRequestId": str(uuid.uuid4()),
            "httpMethod": request.method,
            "identity": {"sourceIp": request.source_ip, "userAgent": user_agent},
            "path": request.path,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": target.route_key,
            "resourcePath": target.resource,
            "stage": target.stage,
        },
        "pathParameters": dict(target.path_parameters) if target.path_parameters else None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": encoded,
    }


def _json_error(status: int, message: str) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")],
                        json.dumps({"message": message}).encode())  # fmt: skip


BAD_GATEWAY = _json_error(502, "Internal Server Error")


def response_v2(payload: bytes) -> HttpResponse:
    """Format 2.0: an object with statusCode is a response; any other JSON is a 200 body."""
    try:
        result = json.loads(payload)
    except ValueError:
        return BAD_GATEWAY
    if not isinstance(result, dict) or "statusCode" not in result:
        return HttpResponse(200, [("content-type", "application/json")], payload)
    return _structured(result, allow_multi=False)


def response_v1(payload: bytes) -> HttpResponse:
    """Format 1.0: the function must return an object with statusCode (else 502)."""
    try:
        result = json.loads(payload)
    except ValueError:
        return BAD_GATEWAY
    if not isinstance(result, dict) or "statusCode" not in result:
        return BAD_GATEWAY
    return _structured(result, allow_multi=True)


def _structured(result: JSONDict, allow_multi: bool) -> HttpResponse:
    try:
        status = int(result["statusCode"])
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        if allow_multi:
            for name, values in (result.get("multiValueHeaders") or {}).items():
                headers = [h for h in headers if h[0].lower() != str(name).lower()]
                headers += [(str(name), str(v)) for v in values]
        headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
        body = result.get("body")
        if body is None:
            raw = b""
        elif result.get("isBase64Encoded"):
            raw = base64.b64decode(str(body))
        else:
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
    except (TypeError, ValueError, AttributeError):
        return BAD_GATEWAY
    if not 100 <= status <= 599:
        return BAD_GATEWAY
    if not any(k.lower() == "content-type" for k, _ in headers) and raw:
        headers.append(("content-type", "application/json"))
    return HttpResponse(status, headers, raw)


def error_response(function_error: str | None, payload: bytes) -> HttpResponse | None:
    """How a failed invocation reaches an HTTP client: 504 for timeouts, else 502."""
    if function_error is None:
        return None
    try:
        message = str(json.loads(payload).get("errorMessage", ""))
    except (ValueError, AttributeError):
        message = ""
    if "Task timed out" in message:
        return _json_error(504, "Endpoint request timed out")
    return BAD_GATEWAY


def decode_path(raw: str) -> str:
    return unquote(raw)


def stream_prelude(first: bytes) -> tuple[HttpResponse, bytes] | None:
    """(the status and headers, the rest of the chunk) when a stream's first chunk carries
    HTTP metadata (an http-integration stream's prelude arrives whole: worker/invocation.py);
    None for a plain stream. Ill-typed fields are left out, never a failure."""
    if not first.startswith(b"{") or PRELUDE_DELIMITER not in first:
        return None
    head, _, rest = first.partition(PRELUDE_DELIMITER)
    try:
        meta = json.loads(head)
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    status = meta.get("statusCode", 200)
    valid = isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599
    given = meta.get("headers")
    headers = [(str(k), str(v)) for k, v in given.items()] if isinstance(given, dict) else []
    cookies = meta.get("cookies")
    if isinstance(cookies, list):
        headers += [("set-cookie", str(c)) for c in cookies]
    return HttpResponse(status if valid else 200, headers), rest

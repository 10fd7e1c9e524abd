"""Recognising S3 requests on the common endpoint and answering them.

A request is S3's when its host names a bucket (`<bucket>.s3.localhost`, or
`<bucket>.localhost`, as SDKs address a custom endpoint), when it is signed for `s3`, or,
unsigned, when its first path segment is an existing bucket. Everything else goes on to the
other services' routes (Lambda's paths, `/_firebox`, function URLs, HTTP routes)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from firebox.api import faults
from firebox.api.envelopes import rest_xml_error, scope_service
from firebox.api.operation import ENVIRONMENT_STATE, FROM_INSIDE, signed_request
from firebox.api.s3 import routes
from firebox.api.s3.call import S3Call
from firebox.api.web import HOST_RE
from firebox.auth.errors import AuthError
from firebox.auth.sigv4 import Caller, PayloadCheck
from firebox.domain.errors import CodedError, LambdaError
from firebox.objects.errors import S3Error
from firebox.objects.names import could_be_bucket

if TYPE_CHECKING:
    from firebox.platform import Platform

# greedy: a bucket may itself contain `.s3.` (the last `.s3` before the host is S3's)
_VIRTUAL = re.compile(r"^(?P<bucket>[a-z0-9.-]+)\.s3(?:[.-][a-z0-9-]+)*\.localhost$")
# First path segments of firebox's own endpoints: an unsigned request there is never taken
# for a bucket's, even if a bucket has that name (signed requests still reach it).
_OWN = re.compile(r"^(?:_firebox|lambda-url|console|\d+|\d{4}-\d{2}-\d{2})$")  # \d+: SQS

# AuthError's types as S3 names them, with S3's status.
_AUTH = {
    "UnrecognizedClientException": ("InvalidAccessKeyId", 403),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "ExpiredTokenException": ("ExpiredToken", 400),
    "MissingAuthenticationTokenException": ("AccessDenied", 403),
    "IncompleteSignatureException": ("AuthorizationHeaderMalformed", 400),
    "XAmzContentSHA256Mismatch": ("XAmzContentSHA256Mismatch", 400),
}


def _host_bucket(host: str, platform: Platform, signed_for_s3: bool) -> str | None:
    """The bucket a virtual-host-style Host names, if it names one: `<bucket>.s3…localhost`
    always; `<bucket>.localhost` when signed for S3 (a CreateBucket too) or when that bucket
    exists."""
    host = host.split(":", 1)[0].lower()
    if HOST_RE.match(host):
        return None  # a function URL
    found = _VIRTUAL.match(host)
    if found:
        return found["bucket"]
    if host.endswith(".localhost") and "." not in host[: -len(".localhost")]:
        candidate = host[: -len(".localhost")]
        if signed_for_s3:
            return candidate if could_be_bucket(candidate) else None
        return candidate if platform.s3.has_bucket(candidate) else None
    return None


def _signed_for(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
    """The service a request is signed for ("s3" for SigV2), or None if it is unsigned."""
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization:
        return "s3" if authorization.startswith("AWS ") else scope_service(authorization)
    query = scope.get("query_string", b"").decode("latin-1")
    if "X-Amz-Credential=" in query:
        return "s3" if "%2Fs3%2Faws4_request" in query else "other"
    return "s3" if "AWSAccessKeyId=" in query else None


def target(scope: Scope, platform: Platform) -> tuple[str, str, bool] | None:
    """(bucket, key, virtual-host addressed) of an S3 request ("" for none), or None if it is
    not S3's."""
    headers = dict(scope["headers"])
    path: str = scope["path"]
    signed_for = _signed_for(scope, headers)
    host = headers.get(b"host", b"").decode("latin-1")
    bucket = _host_bucket(host, platform, signed_for == "s3")
    if bucket is not None:
        return bucket, path[1:], True
    first, _, key = path[1:].partition("/")
    if signed_for is not None:
        return (first, key, False) if signed_for == "s3" else None
    if (
        first
        and platform.s3.has_bucket(first)
        and not _OWN.match(first)
        and (first != platform.settings.http_prefix.strip("/").split("/")[0])
    ):
        return first, key, False  # unsigned (open mode): an existing bucket's path is S3's
    return None


class S3Dispatch:
    """Sends S3 requests to the object store; the rest on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            platform: Platform = scope["app"].state.platform
            found = target(scope, platform)
            if found is not None:
                request = Request(scope, receive)
                response = await serve(request, *found)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _auth_error(exc: AuthError) -> S3Error:
    code, status = _AUTH.get(exc.error_type, (exc.error_type, exc.status))
    message = exc.message
    if code == "SignatureDoesNotMatch" and "expired" in message.lower():
        presigned = "Request has expired" in message or "sec." in message
        code = "AccessDenied" if presigned else "RequestTimeTooSkewed"
    elif code == "SignatureDoesNotMatch" and "not yet current" in message:
        code = "RequestTimeTooSkewed"
    return S3Error(code, message, status)


async def serve(request: Request, bucket: str, key: str, virtual: bool = False) -> Response:
    """One S3 request: authenticated, routed to its operation, answered in S3's XML."""
    resource = f"/{bucket}/{key}" if bucket else "/"
    try:
        call = _authenticate(request, bucket, key, virtual)
        return await routes.route(call)
    except AuthError as exc:
        return rest_xml_error(_auth_error(exc), request.method, resource)
    except S3Error as exc:
        return rest_xml_error(exc, request.method, exc.resource or resource)
    except LambdaError as exc:  # AccessDenied from IAM, and the like
        return rest_xml_error(exc, request.method, resource)
    except ClientDisconnect:
        raise
    except Exception as exc:
        ref = faults.report(exc, request)
        error = CodedError("InternalError", faults.message(exc, ref), 500)
        return rest_xml_error(error, request.method, resource)


def _authenticate(request: Request, bucket: str, key: str, virtual: bool) -> S3Call:
    platform: Platform = request.app.state.platform
    verifier = platform.auth
    signed = signed_request(request, b"")
    resource_path = f"/{bucket}{signed.raw_path}" if virtual else signed.raw_path
    v2 = verifier.verify_v2(signed, resource_path)
    caller: Caller | None
    if v2 is not None:  # the payload is not signed in V2 (Content-MD5 checks it, if sent)
        caller, check = v2, PayloadCheck()
    else:
        if signed.header("authorization") and signed.header("x-amz-content-sha256") is None:
            # S3 signs the body by this header's hash: the body itself is not read up front
            raise S3Error("InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")  # fmt: skip
        caller, check = verifier.verify_streaming(signed)
    inside = ENVIRONMENT_STATE in request.scope.get("state", {})
    if inside and (caller is None or not caller.verified):
        raise S3Error("InvalidAccessKeyId", FROM_INSIDE, 403)
    if caller is not None and verifier.mode == "sigv4" and caller.service != "s3":
        raise S3Error("AuthorizationHeaderMalformed", "The authorization header is malformed; "
                      f"the service '{caller.service}' is wrong; expecting 's3'")  # fmt: skip
    return S3Call(request, bucket, key, caller, check)

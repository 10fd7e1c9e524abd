"""Verifying AWS Signature Version 4: the Authorization header and presigned query strings.

The expected signature is computed by botocore's own signer (the code every Python SDK signs
with), fed the request exactly as it arrived: its raw path and query, the headers the client
says it signed, its body. Only the canonical pieces the client chose (which headers, which
timestamp) are taken from the request; the comparison is constant-time.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from firebox.auth import chunked, sigv2
from firebox.auth.errors import (
    MISMATCH,
    UNKNOWN_KEY,
    ExpiredTokenException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from firebox.auth.keys import AccessKey, KeyStore
from firebox.auth.sessions import PREFIX as SEALED
from firebox.auth.sessions import SessionIssuer

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 15 * 60  # AWS's: a request signed more than 15 minutes off is refused
MAX_EXPIRES_S = 7 * 24 * 3600  # presigned URLs live at most a week
MODES = ("open", "sigv4")
INVALID_TOKEN = "The security token included in the request is invalid."
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class SignedRequest:
    """A request as it arrived, in the pieces a signature covers."""

    method: str
    raw_path: str  # percent-encoded, as sent
    raw_query: str
    headers: list[tuple[str, str]]  # names in lower case, in arrival order
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass(frozen=True)
class Caller:
    """Who signed a request (as far as the mode checks): their key and the credential scope."""

    access_key_id: str
    region: str
    service: str
    verified: bool  # False in open mode: the signature was well-formed, nothing more
    arn: str = ""  # temporary credentials: the assumed role's session
    payload: bytes | None = None  # an aws-chunked body, decoded once its chunks were verified


class ContentHashMismatch(InvalidSignatureException):
    """A body whose SHA-256 is not the one its signature covers (S3's
    XAmzContentSHA256Mismatch)."""

    status = 400
    error_type = "XAmzContentSHA256Mismatch"


class PayloadCheck:
    """What a body must pass as it streams in: the SHA-256 its signature covers, or
    aws-chunked framing (decoded, its chunk signatures checked). `feed` returns the payload
    bytes; `finish` raises if the body did not match and returns any trailing headers."""

    def __init__(
        self, expected_sha256: str | None = None, decoder: chunked.Decoder | None = None
    ) -> None:
        self.expected = expected_sha256
        self.decoder = decoder
        self._hash = hashlib.sha256() if expected_sha256 is not None else None

    @classmethod
    def unverified(cls, claimed: str | None) -> PayloadCheck:
        """An unverified caller's body: aws-chunked framing still decoded, nothing checked."""
        chunked_body = claimed is not None and claimed.startswith("STREAMING-")
        return cls(decoder=chunked.Decoder() if chunked_body else None)

    def feed(self, data: bytes) -> bytes:
        if self._hash is not None:
            self._hash.update(data)
        return self.decoder.feed(data) if self.decoder is not None else data

    def finish(self) -> dict[str, str]:
        if self._hash is not None and not hmac.compare_digest(
            self._hash.hexdigest().encode(), (self.expected or "").encode("latin-1")
        ):
            raise ContentHashMismatch(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        return self.decoder.finish() if self.decoder is not None else {}


@dataclass(frozen=True)
class _Signature:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    timestamp: str
    presigned: bool
    expires: int | None = None


class Verifier:
    """Checks signatures as the mode says: `sigv4` every one, `open` only their form."""

    def __init__(
        self,
        keys: KeyStore,
        sessions: SessionIssuer,
        mode: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"auth mode must be one of {', '.join(MODES)}")
        self.keys = keys
        self.sessions = sessions
        self.mode = mode
        self._clock = clock

    def verify(self, request: SignedRequest) -> Caller | None:
        """The caller, or None for an unsigned request in open mode; raises AuthError. The
        body (`request.body`, whole) is checked against what the signature says of it."""
        caller, check = self.verify_streaming(request)
        if caller is None or not caller.verified:
            return caller
        payload = check.feed(request.body)
        check.finish()
        return replace(caller, payload=payload) if check.decoder is not None else caller

    def verify_streaming(self, request: SignedRequest) -> tuple[Caller | None, PayloadCheck]:
        """Verifies a request's signature without its body (`request.body` unused), and
        returns the check its body must pass as it streams in: the claimed SHA-256, or
        aws-chunked framing and chunk signatures. Raises AuthError."""
        signature = _parse(request)
        claimed = request.header("x-amz-content-sha256")
        if signature is None:
            if self.mode == "open":
                return None, PayloadCheck.unverified(claimed)
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        token = request.header("x-amz-security-token") or _query_value(
            request.raw_query, "X-Amz-Security-Token"
        )
        key = self._key(signature.access_key_id, token)
        if key is None:  # open mode, a long-term key: its form was all there was to check
            caller = Caller(signature.access_key_id, signature.region, signature.service, False)
            return caller, PayloadCheck.unverified(claimed)
        self._check_time(signature)
        derived = claimed is None and not (signature.presigned and signature.service == "s3")
        if derived:  # the body's hash is signed; without the header it is computed from the body
            claimed = sha256_hex(request.body)
        expected = _expected(request, signature, key.secret_access_key, claimed)
        if not hmac.compare_digest(expected.encode(), signature.signature.encode("utf-8")):
            raise InvalidSignatureException(MISMATCH)
        if claimed is not None and claimed.startswith("STREAMING-"):
            check = self._streamed(signature, claimed, key.secret_access_key)
        elif derived or claimed in (None, UNSIGNED_PAYLOAD):  # (derived: checked just now)
            check = PayloadCheck()
        else:
            check = PayloadCheck(expected_sha256=claimed)
        caller = Caller(signature.access_key_id, signature.region, signature.service, True,
                        key.arn)  # fmt: skip
        return caller, check

    def verify_v2(self, request: SignedRequest, resource_path: str) -> Caller | None:
        """S3's Signature Version 2 (presigned `AWSAccessKeyId=…&Signature=…` URLs, or
        `Authorization: AWS key:sig`): the caller, or None when the request has no such
        signature. `resource_path` is the bucket's path (`/bucket/key`), however addressed."""
        signature = sigv2.parse(request.method, request.raw_query, request.headers)
        if signature is None:
            return None
        token = request.header("x-amz-security-token") or _query_value(
            request.raw_query, "x-amz-security-token"
        )
        key = self._key(signature.access_key_id, token)
        if key is None:  # open mode, a long-term key
            return Caller(signature.access_key_id, "", "s3", False)
        now = self._clock()
        if signature.expires is not None and signature.expires < now:
            raise InvalidSignatureException("Request has expired")
        if signature.signed_at is not None and abs(now - signature.signed_at) > MAX_SKEW_S:
            # a header signature is good for 15 minutes either way: no replaying it later
            raise InvalidSignatureException(
                "The difference between the request time and the current time is too large "
                "(Signature expired)" if signature.signed_at < now else
                "The difference between the request time and the current time is too large "
                "(Signature not yet current)"
            )  # fmt: skip
        expected = sigv2.expected(key.secret_access_key, signature, request.method,
                                  resource_path, request.raw_query, request.headers)  # fmt: skip
        if not hmac.compare_digest(expected.encode(), signature.signature.encode("utf-8")):
            raise InvalidSignatureException(MISMATCH)
        return Caller(signature.access_key_id, "", "s3", True, key.arn)

    def _key(self, access_key_id: str, token: str | None) -> AccessKey | None:
        """The key whose secret a signature must be checked with; None in open mode for a
        long-term key (any is accepted). Raises for a key or token that cannot be used."""
        if access_key_id.startswith("ASIA"):  # temporary: the token says whose
            key = self.sessions.open(access_key_id, token) if token else None
        else:  # open mode: the `x` keys of every local call must not cost a key-file check
            key = self.keys.get(access_key_id) if self.mode == "sigv4" else None
        if self.mode == "open" and key is None:
            if token and token.startswith(SEALED):  # firebox's own token, altered: refused
                raise UnrecognizedClientException(INVALID_TOKEN)
            return None
        # Temporary credentials carry an identity (a role session), so their signatures are
        # checked in open mode too: a token alone must not let anyone act as its role.
        if key is None:
            raise UnrecognizedClientException(UNKNOWN_KEY)
        if token and not key.session_token:  # a long-term key needs no token: a stray one is
            raise UnrecognizedClientException(INVALID_TOKEN)  # refused, as AWS refuses it
        if key.session_token and key.expires <= self._clock():
            raise ExpiredTokenException("The security token included in the request is expired")
        return key

    def _streamed(self, signature: _Signature, claimed: str, secret: str) -> PayloadCheck:
        """An aws-chunked body (S3's only): its chunk signatures checked as they come."""
        if signature.service != "s3" or claimed not in chunked.FORMS:
            raise InvalidSignatureException(
                f"x-amz-content-sha256 {claimed[:60]} is not supported for {signature.service}"
            )
        if claimed == chunked.UNSIGNED_TRAILER:  # integrity by the trailing checksum
            return PayloadCheck(decoder=chunked.Decoder())
        scope = f"{signature.date}/{signature.region}/{signature.service}/aws4_request"
        chain = chunked.ChunkChain(_signing_key(secret, signature), signature.timestamp, scope,
                                   signature.signature)  # fmt: skip
        return PayloadCheck(decoder=chunked.Decoder(chain))

    def _check_time(self, signature: _Signature) -> None:
        now = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        ts = signature.timestamp
        try:  # by hand: strptime alone took a quarter of a verification
            if len(ts) != 16 or ts[8] != "T" or ts[15] != "Z":
                raise ValueError(ts)
            year, month, day = int(ts[0:4]), int(ts[4:6]), int(ts[6:8])
            hour, minute, second = int(ts[9:11]), int(ts[11:13]), int(ts[13:15])
            signed = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
        except ValueError:
            raise IncompleteSignatureException(
                f"Date must be in ISO-8601 'basic format'. Got '{signature.timestamp}'."
            ) from None
        skew = datetime.timedelta(seconds=MAX_SKEW_S)
        stamp = f"{now:%Y%m%dT%H%M%SZ}"
        if signature.presigned and signature.expires is not None:
            if now > signed + datetime.timedelta(seconds=signature.expires):
                raise InvalidSignatureException(
                    f"Signature expired: {signature.timestamp} is now earlier than "
                    f"{(now - datetime.timedelta(seconds=signature.expires)).strftime(_STAMP)} "
                    f"({stamp} - {signature.expires} sec.)"
                )
        elif signed < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {signature.timestamp} is now earlier than "
                f"{(now - skew).strftime(_STAMP)} ({stamp} - 15 min.)"
            )
        if signed > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {signature.timestamp} is still later than "
                f"{(now + skew).strftime(_STAMP)} ({stamp} + 15 min.)"
            )


def _query_value(query: str, name: str) -> str | None:
    from urllib.parse import unquote

    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return unquote(value)
    return None


def _parse(request: SignedRequest) -> _Signature | None:
    """The signature's parts from the Authorization header or a presigned query; None if
    the request carries neither; IncompleteSignatureException if malformed."""
    header = request.header("authorization")
    if header is not None:
        return _parse_header(header, request)
    if "X-Amz-Algorithm=" in request.raw_query:
        return _parse_query(request)
    return None


def _parse_header(header: str, request: SignedRequest) -> _Signature:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm[:40]}'" if algorithm else
            "Authorization header requires a value."
        )  # fmt: skip
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise IncompleteSignatureException(
            f"Authorization header requires '{missing[0]}' parameter. Authorization={header[:200]}"
        )
    timestamp = request.header("x-amz-date") or ""
    if not timestamp:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    return _signature(fields["Credential"], fields["SignedHeaders"], fields["Signature"],
                      timestamp, presigned=False)  # fmt: skip


def _parse_query(request: SignedRequest) -> _Signature:
    from urllib.parse import parse_qs

    query = {k: v[0] for k, v in parse_qs(request.raw_query, keep_blank_values=True).items()}
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise IncompleteSignatureException("Unsupported AWS 'algorithm' in the query string")
    for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date"):
        if name not in query:
            raise IncompleteSignatureException(
                f"Query-string authentication requires the {name} parameter"
            )
    expires = query.get("X-Amz-Expires", "900")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES_S:
        raise IncompleteSignatureException(
            "X-Amz-Expires must be non-negative and less than a week (604800 seconds)"
        )
    signature = _signature(
        query["X-Amz-Credential"], query["X-Amz-SignedHeaders"], query["X-Amz-Signature"],
        query["X-Amz-Date"], presigned=True,
    )  # fmt: skip
    return _Signature(**{**signature.__dict__, "expires": int(expires)})


def _signature(
    credential: str, signed: str, value: str, timestamp: str, presigned: bool
) -> _Signature:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid region, not '{'/'.join(parts[2:3])}'. "
            if len(parts) == 5 else
            f"Credential should be scoped correctly: '{credential[:120]}'"
        )  # fmt: skip
    headers = [h for h in signed.lower().split(";") if h]
    if "host" not in headers:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return _Signature(parts[0], parts[1], parts[2], parts[3], headers, value.lower(), timestamp,
                      presigned)  # fmt: skip


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _signing_key(secret: str, parts: _Signature) -> bytes:
    scope = (secret, parts.date, parts.region, parts.service)
    key = _signing_keys.get(scope)
    if key is None:
        key = hmac.new(f"AWS4{secret}".encode(), parts.date.encode(), "sha256").digest()
        for step in (parts.region, parts.service, "aws4_request"):
            key = hmac.new(key, step.encode(), "sha256").digest()
        if len(_signing_keys) > 1024:
            _signing_keys.clear()
        _signing_keys[scope] = key
    return key


@dataclass
class _Bare:
    """The parts of a request botocore's signer reads (method, url, headers, params, context)."""

    method: str
    url: str
    headers: dict[str, str]
    context: dict[str, str]
    params: dict[str, str] | None = None


class _Expected(SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's signer, told which headers the client signed and how it hashed the body."""

    def __init__(self, secret: str, signature: _Signature, values: dict[str, list[str]]) -> None:
        super().__init__(Credentials(signature.access_key_id, secret), signature.service,
                         signature.region)  # fmt: skip
        self._parts = signature
        self._values = values

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = HTTPHeaders()
        for name in self._parts.signed_headers:
            for value in self._values.get(name, []):
                headers[name] = value
        return headers

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        """HMAC with the signing key, derived once per key, day, region and service."""
        key = _signing_key(self.credentials.secret_key, self._parts)
        return hmac.new(key, string_to_sign.encode(), "sha256").hexdigest()

    def payload(self, request: AWSRequest) -> str:
        # Only reached without a claimed hash: S3's presigned URLs, whose payload is unsigned.
        return str(UNSIGNED_PAYLOAD)

    def _normalize_url_path(self, path: str) -> str:
        if self._parts.service == "s3":  # S3 signs the path as sent, not encoded twice
            return path or "/"
        result: str = super()._normalize_url_path(path)
        return result


def _expected(
    request: SignedRequest, signature: _Signature, secret: str, content_sha: str | None
) -> str:
    values: dict[str, list[str]] = {}
    for name, value in request.headers:
        values.setdefault(name, []).append(value)
    query = request.raw_query
    if signature.presigned:  # the signature itself is not part of what it signs
        query = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
    url = f"http://{request.header('host') or 'localhost'}{request.raw_path}"
    if query:
        url += f"?{query}"
    # What botocore's canonical_request() reads of a request, without an AWSRequest (whose
    # construction and preparation cost more than the whole signature).
    headers = {} if content_sha is None else {"X-Amz-Content-SHA256": content_sha}
    aws = _Bare(request.method, url, headers, {"timestamp": signature.timestamp})
    signer = _Expected(secret, signature, values)
    canonical = signer.canonical_request(aws)
    result: str = signer.signature(signer.string_to_sign(aws, canonical), aws)
    return result

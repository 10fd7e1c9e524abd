"""S3's older signatures (Signature Version 2): presigned URLs with `AWSAccessKeyId`,
`Signature` and `Expires` (what boto3 still makes by default for us-east-1) and
`Authorization: AWS <key>:<signature>` headers. HMAC-SHA1 over S3's canonical string."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from botocore.auth import HmacV1Auth

from firebox.auth.errors import IncompleteSignatureException, MissingAuthenticationTokenException

_INTERESTING = ("content-md5", "content-type")


@dataclass(frozen=True)
class V2Signature:
    access_key_id: str
    signature: str
    expires: int | None  # presigned: epoch seconds
    date_line: str  # the Date (or Expires) the signature covers
    signed_at: float | None = None  # a header signature's Date or x-amz-date, epoch seconds


def _when(text: str) -> float | None:
    """An HTTP date (Date, or x-amz-date in either of its forms) as epoch seconds."""
    import datetime
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        pass
    else:  # a date without a zone (or -0000) is UTC, never the server's local time
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).timestamp()
    try:
        moment = datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def parse(method: str, raw_query: str, headers: list[tuple[str, str]]) -> V2Signature | None:
    """A V2 signature in the query or the Authorization header, or None if there is none."""
    values = dict(headers)
    authorization = values.get("authorization", "")
    if authorization.startswith("AWS "):
        key, _, signature = authorization[4:].partition(":")
        if not key or not signature:
            raise IncompleteSignatureException("Authorization header is not AWS key:signature")
        date = "" if "x-amz-date" in values else values.get("date", "")
        when = _when(values.get("x-amz-date") or values.get("date") or "")
        if when is None:  # S3 answers this one AccessDenied (403)
            raise MissingAuthenticationTokenException(
                "AWS authentication requires a valid Date or x-amz-date header"
            )
        return V2Signature(key, signature, None, date, when)
    if "AWSAccessKeyId=" not in raw_query or "Signature=" not in raw_query:
        return None
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    expires = query.get("Expires", "")
    if not expires.isdigit():
        raise IncompleteSignatureException("Query-string authentication requires Expires")
    return V2Signature(query.get("AWSAccessKeyId", ""), query.get("Signature", ""),
                       int(expires), expires)  # fmt: skip


def expected(
    secret: str, signature: V2Signature, method: str, resource_path: str, raw_query: str,
    headers: list[tuple[str, str]],
) -> str:  # fmt: skip
    """The signature S3 computes: over the method, Content-MD5, Content-Type, the date, the
    x-amz-* headers and the resource (path with its signed subresources)."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value.strip())
    lines = [method.upper()]
    lines += [",".join(values.get(name, [""])) for name in _INTERESTING]
    lines.append(signature.date_line)
    amz = sorted((n, ",".join(v)) for n, v in values.items() if n.startswith("x-amz-"))
    lines += [f"{name}:{value}" for name, value in amz]
    subresources = sorted(
        (k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True)
        if k in HmacV1Auth.QSAOfInterest
    )  # fmt: skip
    resource = resource_path
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    lines.append(resource)
    digest = hmac.new(secret.encode(), "\n".join(lines).encode("utf-8"), "sha1").digest()
    return base64.b64encode(digest).decode()

"""S3's bucket operations: create, head, list, delete, location, tags, notifications, and
the object listings (ListObjects v1 and v2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import quote
from xml.sax.saxutils import escape

from starlette.responses import Response

from firebox.api.s3.call import S3Call
from firebox.api.s3.xml import (
    document,
    element,
    iso,
    notification,
    parse,
    read_notification,
    read_tags,
    tag_set,
    text,
)
from firebox.objects.errors import invalid_argument

XML = "application/xml"


def ok(
    call: S3Call, body: bytes | None = None, status: int = 200,
    headers: dict[str, str] | None = None, **named: str,
) -> Response:  # fmt: skip
    """An S3 answer: its XML (if any) and the request id S3 gives every answer."""
    out = {"x-amz-request-id": call.request_id, "x-amz-id-2": f"{call.request_id}/firebox"}
    out.update({k.replace("_", "-"): v for k, v in {**(headers or {}), **named}.items()})
    return Response(body, status, headers=out, media_type=XML if body else None)


def _owner(call: S3Call) -> str:
    account = call.platform.settings.account_id
    return f"<Owner>{element('ID', account)}{element('DisplayName', 'firebox')}</Owner>"


async def list_buckets(call: S3Call) -> Response:
    region = call.platform.settings.region
    entries = "".join(
        f"<Bucket>{element('Name', b.name)}{element('CreationDate', iso(b.created))}"
        f"{element('BucketRegion', b.region or region)}</Bucket>"
        for b in call.platform.s3.buckets()
    )
    return ok(call, document("ListAllMyBucketsResult", _owner(call),
                             f"<Buckets>{entries}</Buckets>"))  # fmt: skip


async def create_bucket(call: S3Call) -> Response:
    body = await call.read()
    location = None
    if body.strip():
        root = parse(body)
        location = text(root, "LocationConstraint") or None
    await call.platform.s3.create_bucket(call.bucket, location)
    return ok(call, location=f"/{call.bucket}")


async def head_bucket(call: S3Call) -> Response:
    bucket = call.platform.s3.bucket(call.bucket)
    return ok(call, x_amz_bucket_region=bucket.region)


async def delete_bucket(call: S3Call) -> Response:
    await call.platform.s3.delete_bucket(call.bucket)
    return ok(call, status=204)


async def get_location(call: S3Call) -> Response:
    region = call.platform.s3.bucket(call.bucket).region
    # us-east-1 is S3's empty location constraint
    value = "" if region == "us-east-1" else region
    return ok(call, document("LocationConstraint", escape(value)))


async def get_tags(call: S3Call) -> Response:
    return ok(call, tag_set(call.platform.s3.bucket_tags(call.bucket)))


async def put_tags(call: S3Call) -> Response:
    tags = read_tags(await call.read())
    await call.platform.s3.put_bucket_tags(call.bucket, tags)
    return ok(call, status=204)


async def delete_tags(call: S3Call) -> Response:
    await call.platform.s3.put_bucket_tags(call.bucket, None)
    return ok(call, status=204)


async def get_versioning(call: S3Call) -> Response:
    call.platform.s3.bucket(call.bucket)
    return ok(call, document("VersioningConfiguration"))  # never enabled: no Status


async def get_notification(call: S3Call) -> Response:
    return ok(call, notification(call.platform.s3.notification_rules(call.bucket)))


async def put_notification(call: S3Call) -> Response:
    config = read_notification(await call.read())
    skip = (call.header("x-amz-skip-destination-validation") or "").lower() == "true"
    await call.platform.s3.put_notifications(call.bucket, config, call.request_id,
                                            validate=not skip)  # fmt: skip
    return ok(call)


# ----- listings -------------------------------------------------------------------------------
def _max_keys(call: S3Call) -> int:
    raw = call.query("max-keys")
    if raw is None:
        return 1000
    if not raw.lstrip("-").isdigit() or int(raw) < 0:
        raise invalid_argument("Provided max-keys not an integer or within integer range")
    return min(int(raw), 1000)


def _encoder(call: S3Call) -> tuple[str, Callable[[str], str]]:
    """encoding-type=url: keys and prefixes URL-encoded (what botocore asks for, and
    decodes), so that any key survives XML."""
    kind = call.query("encoding-type")
    if kind is None:
        return "", lambda value: value
    if kind != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request")
    return element("EncodingType", "url"), lambda value: quote(value, safe="/~")


async def list_objects(call: S3Call) -> Response:
    v2 = call.query("list-type") == "2"
    prefix = call.query("prefix") or ""
    delimiter = call.query("delimiter") or ""
    max_keys = _max_keys(call)
    encoding, enc = _encoder(call)
    token = call.query("continuation-token")
    if v2:
        marker = call.query("start-after") or ""
        if token is not None:
            try:
                marker = base64.urlsafe_b64decode(token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise invalid_argument("The continuation token provided is incorrect") from None
    else:
        marker = call.query("marker") or ""
    listing = call.platform.s3.list_objects(call.bucket, prefix, delimiter, marker, max_keys)
    owner = _owner(call)
    contents = "".join(
        "<Contents>" + element("Key", enc(o.key)) + element("LastModified", iso(o.modified))
        + element("ETag", f'"{o.etag}"') + element("Size", o.size)
        + "".join(element("ChecksumAlgorithm", a) for a in o.checksums)
        + element("StorageClass", o.storage_class) + ("" if v2 else owner) + "</Contents>"
        for o in listing.contents
    )  # fmt: skip
    prefixes = "".join(
        f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in listing.prefixes
    )
    head = element("Name", call.bucket) + element("Prefix", enc(prefix))
    if delimiter:
        head += element("Delimiter", enc(delimiter))
    head += element("MaxKeys", max_keys) + encoding + element("IsTruncated", listing.truncated)
    if v2:
        head += element("KeyCount", len(listing.contents) + len(listing.prefixes))
        if token is not None:
            head += element("ContinuationToken", token)
        if listing.truncated:
            next_token = base64.urlsafe_b64encode(listing.last.encode()).decode()
            head += element("NextContinuationToken", next_token)
        if call.query("start-after"):
            head += element("StartAfter", enc(call.query("start-after") or ""))
    else:
        head += element("Marker", enc(marker))
        if listing.truncated and delimiter:
            head += element("NextMarker", enc(listing.last))
    return ok(call, document("ListBucketResult", head, contents, prefixes))

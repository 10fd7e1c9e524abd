"""S3's multipart uploads: create, upload (or copy) parts, complete, abort, and list."""

from __future__ import annotations

from starlette.responses import Response

from firebox.api.operation import authorize
from firebox.api.s3.buckets import ok
from firebox.api.s3.call import S3Call
from firebox.api.s3.objects import check_declared_size, copy_source, source_conditions
from firebox.api.s3.xml import document, element, iso, read_parts
from firebox.objects import conditions
from firebox.objects.errors import S3Error, invalid_argument


def _upload_id(call: S3Call) -> str:
    return call.query("uploadId") or ""


def _part_number(call: S3Call) -> int:
    raw = call.query("partNumber") or ""
    if not raw.isdigit():
        raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
    return int(raw)


def _owner(call: S3Call, tag: str) -> str:
    account = call.platform.settings.account_id
    return f"<{tag}>{element('ID', account)}{element('DisplayName', 'firebox')}</{tag}>"


async def create_upload(call: S3Call) -> Response:
    await call.read(0)
    upload = await call.platform.s3.create_upload(call.bucket, call.key, call.new_object())
    body = document("InitiateMultipartUploadResult", element("Bucket", call.bucket),
                    element("Key", call.key), element("UploadId", upload.upload_id))  # fmt: skip
    headers = {}
    if upload.checksum_algorithm:
        headers["x_amz_checksum_algorithm"] = upload.checksum_algorithm
    return ok(call, body, headers=headers)


async def upload_part(call: S3Call) -> Response:
    check_declared_size(call)
    part = await call.platform.s3.upload_part(
        call.bucket, call.key, _upload_id(call), _part_number(call), call.body(),
        call.new_object(),
    )  # fmt: skip
    headers = {"etag": f'"{part.etag}"'}
    headers.update({f"x_amz_checksum_{a.lower()}": v for a, v in part.checksums.items()})
    return ok(call, headers=headers)


def _copy_range(call: S3Call) -> tuple[int, int] | None:
    raw = call.header("x-amz-copy-source-range")
    if raw is None:
        return None
    unit, _, spec = raw.partition("=")
    first, _, last = spec.partition("-")
    if unit != "bytes" or not first.isdigit() or not last.isdigit():
        raise invalid_argument("The x-amz-copy-source-range value must be of the form "
                               "bytes=first-last where first and last are the zero-based "
                               "offsets of the first and last bytes to copy")  # fmt: skip
    return int(first), int(last)


async def upload_part_copy(call: S3Call) -> Response:
    src_bucket, src_key = copy_source(call)
    authorize(call.request, call.caller, "s3:GetObject",
              f"arn:aws:s3:::{src_bucket}/{src_key}", "AccessDenied")  # fmt: skip
    await call.read(0)
    wanted = source_conditions(call)
    part = await call.platform.s3.upload_part_copy(
        call.bucket, call.key, _upload_id(call), _part_number(call), src_bucket, src_key,
        _copy_range(call), lambda source: conditions.check(source, wanted, copy_source=True),
    )  # fmt: skip
    return ok(call, document("CopyPartResult", element("LastModified", iso(part.modified)),
                             element("ETag", f'"{part.etag}"')))  # fmt: skip


async def complete_upload(call: S3Call) -> Response:
    parts = read_parts(await call.read())
    if_none_match = call.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error("NotImplemented", "A header you provided implies functionality that is "
                      "not implemented (If-None-Match other than *)", 501)  # fmt: skip
    if_match = call.header("if-match")
    obj = await call.platform.s3.complete_upload(
        call.bucket, call.key, _upload_id(call), parts, call.actor(),
        if_none_match is not None, if_match.strip('"') if if_match else None,
    )  # fmt: skip
    host = call.header("host") or "localhost"
    sums = "".join(element(f"Checksum{a}", v) for a, v in obj.checksums.items())
    body = document(
        "CompleteMultipartUploadResult",
        element("Location", f"http://{host}/{call.bucket}/{call.key}"),
        element("Bucket", call.bucket), element("Key", call.key),
        element("ETag", f'"{obj.etag}"'), sums,
    )  # fmt: skip
    return ok(call, body)


async def abort_upload(call: S3Call) -> Response:
    await call.platform.s3.abort_upload(call.bucket, call.key, _upload_id(call))
    return ok(call, status=204)


def _max(call: S3Call, name: str) -> int:
    raw = call.query(name)
    if raw is None:
        return 1000
    if not raw.isdigit():
        raise invalid_argument(f"Provided {name} not an integer or within integer range")
    return min(int(raw), 1000)


async def list_parts(call: S3Call) -> Response:
    upload, parts = call.platform.s3.parts(call.bucket, call.key, _upload_id(call))
    marker_raw = call.query("part-number-marker") or "0"
    if not marker_raw.isdigit():
        raise invalid_argument("Invalid part-number-marker")
    marker, limit = int(marker_raw), _max(call, "max-parts")
    after = [p for p in parts if p.number > marker]
    page, truncated = after[:limit], len(after) > limit
    entries = "".join(
        "<Part>" + element("PartNumber", p.number) + element("LastModified", iso(p.modified))
        + element("ETag", f'"{p.etag}"') + element("Size", p.size)
        + "".join(element(f"Checksum{a}", v) for a, v in p.checksums.items()) + "</Part>"
        for p in page
    )  # fmt: skip
    body = document(
        "ListPartsResult", element("Bucket", call.bucket), element("Key", call.key),
        element("UploadId", upload.upload_id), element("PartNumberMarker", marker),
        element("NextPartNumberMarker", page[-1].number if page else marker),
        element("MaxParts", limit), element("IsTruncated", truncated),
        _owner(call, "Initiator"), _owner(call, "Owner"),
        element("StorageClass", upload.storage_class), entries,
        element("ChecksumAlgorithm", upload.checksum_algorithm)
        if upload.checksum_algorithm else "",
    )  # fmt: skip
    return ok(call, body)


async def list_uploads(call: S3Call) -> Response:
    prefix = call.query("prefix") or ""
    key_marker = call.query("key-marker") or ""
    id_marker = call.query("upload-id-marker") or ""
    limit = _max(call, "max-uploads")

    def after(key: str, upload_id: str) -> bool:
        # without upload-id-marker, every upload of key-marker itself is skipped too
        if not id_marker:
            return key > key_marker
        return (key, upload_id) > (key_marker, id_marker)

    uploads = [
        u for u in call.platform.s3.uploads(call.bucket)
        if u.key.startswith(prefix) and after(u.key, u.upload_id)
    ]  # fmt: skip
    page, truncated = uploads[:limit], len(uploads) > limit
    entries = "".join(
        "<Upload>" + element("Key", u.key) + element("UploadId", u.upload_id)
        + _owner(call, "Initiator") + _owner(call, "Owner")
        + element("StorageClass", u.storage_class) + element("Initiated", iso(u.initiated))
        + "</Upload>"
        for u in page
    )  # fmt: skip
    body = document(
        "ListMultipartUploadsResult", element("Bucket", call.bucket),
        element("KeyMarker", key_marker), element("UploadIdMarker", id_marker),
        element("NextKeyMarker", page[-1].key if truncated else ""),
        element("NextUploadIdMarker", page[-1].upload_id if truncated else ""),
        element("Prefix", prefix), element("MaxUploads", limit),
        element("IsTruncated", truncated), entries,
    )  # fmt: skip
    return ok(call, body)

"""S3's object operations: put, get (ranges, conditions, response overrides), head, delete,
delete many, copy, and object tags."""

from __future__ import annotations

import contextlib
from urllib.parse import unquote

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from firebox.api.operation import authorize
from firebox.api.s3.buckets import ok
from firebox.api.s3.call import S3Call
from firebox.api.s3.xml import (
    document,
    element,
    http_date,
    iso,
    read_delete,
    read_tags,
    tag_set,
)
from firebox.domain.errors import LambdaError
from firebox.objects import conditions
from firebox.objects.conditions import Conditions, NotModified
from firebox.objects.errors import S3Error, invalid_argument
from firebox.objects.reading import Body
from firebox.objects.records import ObjectRecord
from firebox.objects.service import MAX_PUT, Deleted

_OVERRIDES = {"response-content-type": "content-type",
              "response-content-language": "content-language",
              "response-expires": "expires", "response-cache-control": "cache-control",
              "response-content-disposition": "content-disposition",
              "response-content-encoding": "content-encoding"}  # fmt: skip


def _object_headers(call: S3Call, obj: ObjectRecord, checksums: bool) -> list[tuple[str, str]]:
    """The headers that describe an object on GET and HEAD."""
    headers = [
        ("etag", f'"{obj.etag}"'),
        ("last-modified", http_date(obj.modified)),
        ("accept-ranges", "bytes"),
        ("content-type", obj.content_type),
        ("x-amz-request-id", call.request_id),
        ("x-amz-id-2", f"{call.request_id}/firebox"),
    ]
    headers += list(obj.headers.items())
    headers += [(f"x-amz-meta-{k}", v) for k, v in obj.metadata.items()]
    if obj.tags:
        headers.append(("x-amz-tagging-count", str(len(obj.tags))))
    if obj.storage_class != "STANDARD":
        headers.append(("x-amz-storage-class", obj.storage_class))
    if checksums:
        headers += [(f"x-amz-checksum-{a.lower()}", v) for a, v in obj.checksums.items()]
        if obj.checksums:
            full = not any(v.endswith(f"-{obj.parts}") for v in obj.checksums.values())
            headers.append(("x-amz-checksum-type", "FULL_OBJECT" if full else "COMPOSITE"))
    overrides = {header: call.query(name) for name, header in _OVERRIDES.items()}
    headers = [(k, v) for k, v in headers if overrides.get(k) is None]
    headers += [(k, v) for k, v in overrides.items() if v is not None]
    return headers


class _HeldStream(StreamingResponse):
    """An object's bytes streamed from its files, which are let go when the response ends
    however it ends: sent, cut off mid-way, or never started (a client gone at once)."""

    def __init__(self, body: Body, first: int, last: int, status: int) -> None:
        self._chunks = body.chunks(first, last)
        self._body = body
        super().__init__(self._chunks, status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(ValueError):  # still running in its thread: it ends so
                self._chunks.close()
            self._body.close()


def _response(status: int, headers: list[tuple[str, str]], body: bytes | None = None,
              length: int | None = None) -> Response:  # fmt: skip
    response = Response(body, status)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1", "replace"))
                            for k, v in headers]  # fmt: skip
    size = length if length is not None else len(body or b"")
    response.raw_headers.append((b"content-length", str(size).encode()))
    return response


def _conditions(call: S3Call) -> Conditions:
    return Conditions(
        call.header("if-match"),
        call.header("if-none-match"),
        call.header("if-modified-since"),
        call.header("if-unmodified-since"),
    )


async def get_object(call: S3Call) -> Response:
    return await _read(call, head=False)


async def head_object(call: S3Call) -> Response:
    return await _read(call, head=True)


async def _read(call: S3Call, head: bool) -> Response:
    s3 = call.platform.s3
    if head:
        return _answer(call, s3.head(call.bucket, call.key), None)
    obj, body = s3.open(call.bucket, call.key)
    try:
        return _answer(call, obj, body)
    except BaseException:
        body.close()  # never handed to a response: let its files go here
        raise


def _answer(call: S3Call, obj: ObjectRecord, body: Body | None) -> Response:
    """GET's or HEAD's answer: 304/412 by the conditions, 206 for a range, else 200."""
    try:
        conditions.check(obj, _conditions(call))
        wanted = conditions.byte_range(call.header("range"), obj.size)
    except NotModified:
        if body is not None:
            body.close()
        headers = [
            (k, v)
            for k, v in _object_headers(call, obj, False)
            if k in ("etag", "last-modified", "x-amz-request-id", "x-amz-id-2")
        ]
        return _response(304, headers)
    except S3Error as exc:
        if exc.error_type == "InvalidRange":
            exc.resource = call.key
        raise
    checksum_mode = (call.header("x-amz-checksum-mode") or "").upper() == "ENABLED"
    headers = _object_headers(call, obj, checksum_mode and wanted is None)
    status, first, last = 200, 0, obj.size - 1
    if wanted is not None:
        status, (first, last) = 206, wanted
        headers.append(("content-range", f"bytes {first}-{last}/{obj.size}"))
    length = last - first + 1 if obj.size else 0
    if body is None:
        return _response(status, headers, None, length)
    if body.small:
        data = body.read_all()[first : last + 1] if obj.size else b""
        return _response(status, headers, data)
    response = _HeldStream(body, first, last, status)
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1", "replace"))
                            for k, v in headers]  # fmt: skip
    response.raw_headers.append((b"content-length", str(length).encode()))
    return response


def check_declared_size(call: S3Call) -> None:
    """EntityTooLarge before a byte is read when the request says it is over 5 GB."""
    declared = call.header("x-amz-decoded-content-length") or call.header("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PUT:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")


async def put_object(call: S3Call) -> Response:
    check_declared_size(call)
    new = call.new_object()
    if_none_match = call.header("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error("NotImplemented", "A header you provided implies functionality that is "
                      "not implemented (If-None-Match other than *)", 501)  # fmt: skip
    if_match = call.header("if-match")
    obj = await call.platform.s3.put_object(
        call.bucket, call.key, call.body(), new, call.actor(),
        if_none_match=if_none_match is not None, if_match=if_match.strip('"') if if_match else None,
    )  # fmt: skip
    headers = {"etag": f'"{obj.etag}"'}
    headers.update({f"x_amz_checksum_{a.lower()}": v for a, v in obj.checksums.items()})
    return ok(call, headers=headers)


async def delete_object(call: S3Call) -> Response:
    await call.platform.s3.delete_object(call.bucket, call.key, call.actor())
    return ok(call, status=204)


async def delete_objects(call: S3Call) -> Response:
    """Each key is its own s3:DeleteObject (IAM decides per key, as S3 does)."""
    objects, quiet = read_delete(await call.read())
    refused: list[Deleted] = []
    allowed: list[str] = []
    for key, version in objects:
        if version not in ("", "null"):  # no versioning: only the null version exists
            refused.append(Deleted(key, S3Error("InvalidArgument", "Invalid version id "
                                                "specified", 400)))  # fmt: skip
            continue
        try:
            authorize(call.request, call.caller, "s3:DeleteObject",
                      f"arn:aws:s3:::{call.bucket}/{key}", "AccessDenied")  # fmt: skip
            allowed.append(key)
        except LambdaError as exc:
            refused.append(Deleted(key, S3Error("AccessDenied", exc.message, 403)))
    results = await call.platform.s3.delete_objects(call.bucket, allowed, call.actor())
    parts = []
    for result in [*results, *refused]:
        if result.error is None:
            if not quiet:
                parts.append(f"<Deleted>{element('Key', result.key)}</Deleted>")
        else:
            parts.append(f"<Error>{element('Key', result.key)}"
                         f"{element('Code', result.error.error_type)}"
                         f"{element('Message', result.error.message)}</Error>")  # fmt: skip
    return ok(call, document("DeleteResult", *parts))


def copy_source(call: S3Call) -> tuple[str, str]:
    """The bucket and key `x-amz-copy-source` names (`bucket/key`, URL-encoded)."""
    raw, _, version = (call.header("x-amz-copy-source") or "").partition("?versionId=")
    if version and version != "null":
        raise S3Error("InvalidArgument", "Invalid version id specified", 400, version)
    bucket, _, key = unquote(raw).lstrip("/").partition("/")
    if not bucket or not key:
        raise invalid_argument("Copy Source must mention the source bucket and key: "
                               "sourcebucket/sourcekey")  # fmt: skip
    return bucket, key


def source_conditions(call: S3Call) -> Conditions:
    return Conditions(
        call.header("x-amz-copy-source-if-match"), call.header("x-amz-copy-source-if-none-match"),
        call.header("x-amz-copy-source-if-modified-since"),
        call.header("x-amz-copy-source-if-unmodified-since"),
    )  # fmt: skip


async def copy_object(call: S3Call) -> Response:
    src_bucket, src_key = copy_source(call)
    authorize(call.request, call.caller, "s3:GetObject",
              f"arn:aws:s3:::{src_bucket}/{src_key}", "AccessDenied")  # fmt: skip
    directive = (call.header("x-amz-metadata-directive") or "COPY").upper()
    tag_directive = (call.header("x-amz-tagging-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        raise invalid_argument("Unknown metadata directive.")
    await call.read(0)  # a copy has no body
    wanted = source_conditions(call)
    obj = await call.platform.s3.copy_object(
        src_bucket, src_key, call.bucket, call.key, call.new_object(),
        directive == "REPLACE", tag_directive == "REPLACE", call.actor(),
        check_source=lambda source: conditions.check(source, wanted, copy_source=True),
    )  # fmt: skip
    sums = "".join(element(f"Checksum{a}", v) for a, v in obj.checksums.items())
    body = document("CopyObjectResult", element("LastModified", iso(obj.modified)),
                    element("ETag", f'"{obj.etag}"'), sums)  # fmt: skip
    return ok(call, body)


async def get_tags(call: S3Call) -> Response:
    return ok(call, tag_set(call.platform.s3.head(call.bucket, call.key).tags))


async def put_tags(call: S3Call) -> Response:
    tags = read_tags(await call.read())
    await call.platform.s3.put_tags(call.bucket, call.key, tags)
    return ok(call)


async def delete_tags(call: S3Call) -> Response:
    await call.platform.s3.put_tags(call.bucket, call.key, {})
    return ok(call, status=204)

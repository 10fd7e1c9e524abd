"""Which S3 operation a request is (method, bucket or object, subresource), and the IAM action
that allows it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from firebox.api.operation import authorize
from firebox.api.s3 import buckets, multipart, objects
from firebox.api.s3.call import S3Call
from firebox.objects.errors import S3Error

Handler = Callable[[S3Call], Awaitable[Response]]

# (method, level, subresource) → (operation, IAM action, handler); level: service | bucket |
# object; subresource: the query parameter that selects the operation ("" for none).
TABLE: dict[tuple[str, str, str], tuple[str, str, Handler]] = {
    ("GET", "service", ""): ("ListBuckets", "s3:ListAllMyBuckets", buckets.list_buckets),
    ("PUT", "bucket", ""): ("CreateBucket", "s3:CreateBucket", buckets.create_bucket),
    ("HEAD", "bucket", ""): ("HeadBucket", "s3:ListBucket", buckets.head_bucket),
    ("DELETE", "bucket", ""): ("DeleteBucket", "s3:DeleteBucket", buckets.delete_bucket),
    ("GET", "bucket", ""): ("ListObjects", "s3:ListBucket", buckets.list_objects),
    ("GET", "bucket", "location"): (
        "GetBucketLocation", "s3:GetBucketLocation", buckets.get_location),
    ("GET", "bucket", "tagging"): ("GetBucketTagging", "s3:GetBucketTagging", buckets.get_tags),
    ("PUT", "bucket", "tagging"): ("PutBucketTagging", "s3:PutBucketTagging", buckets.put_tags),
    ("DELETE", "bucket", "tagging"): (
        "DeleteBucketTagging", "s3:PutBucketTagging", buckets.delete_tags),
    ("GET", "bucket", "notification"): (
        "GetBucketNotificationConfiguration", "s3:GetBucketNotification",
        buckets.get_notification),
    ("PUT", "bucket", "notification"): (
        "PutBucketNotificationConfiguration", "s3:PutBucketNotification",
        buckets.put_notification),
    ("GET", "bucket", "versioning"): (
        "GetBucketVersioning", "s3:GetBucketVersioning", buckets.get_versioning),
    ("GET", "bucket", "uploads"): (
        "ListMultipartUploads", "s3:ListBucketMultipartUploads", multipart.list_uploads),
    # DeleteObjects: each key is authorized by the handler, as its own s3:DeleteObject
    ("POST", "bucket", "delete"): ("DeleteObjects", "", objects.delete_objects),
    ("PUT", "object", ""): ("PutObject", "s3:PutObject", objects.put_object),
    ("GET", "object", ""): ("GetObject", "s3:GetObject", objects.get_object),
    ("HEAD", "object", ""): ("HeadObject", "s3:GetObject", objects.head_object),
    ("DELETE", "object", ""): ("DeleteObject", "s3:DeleteObject", objects.delete_object),
    ("GET", "object", "tagging"): (
        "GetObjectTagging", "s3:GetObjectTagging", objects.get_tags),
    ("PUT", "object", "tagging"): (
        "PutObjectTagging", "s3:PutObjectTagging", objects.put_tags),
    ("DELETE", "object", "tagging"): (
        "DeleteObjectTagging", "s3:DeleteObjectTagging", objects.delete_tags),
    ("POST", "object", "uploads"): (
        "CreateMultipartUpload", "s3:PutObject", multipart.create_upload),
    ("PUT", "object", "uploadId"): ("UploadPart", "s3:PutObject", multipart.upload_part),
    ("POST", "object", "uploadId"): (
        "CompleteMultipartUpload", "s3:PutObject", multipart.complete_upload),
    ("DELETE", "object", "uploadId"): (
        "AbortMultipartUpload", "s3:AbortMultipartUpload", multipart.abort_upload),
    ("GET", "object", "uploadId"): (
        "ListParts", "s3:ListMultipartUploadParts", multipart.list_parts),
}  # fmt: skip
# The operations served (some are told apart by a header: x-amz-copy-source, list-type=2).
OPERATIONS = frozenset(
    {name for name, _, _ in TABLE.values()} | {"CopyObject", "UploadPartCopy", "ListObjectsV2"}
)
# Subresources S3 has that firebox does not serve: answered NotImplemented, never mistaken
# for the plain operation (a GET ?acl is not a GetObject).
UNSERVED = ("acl", "policy", "cors", "lifecycle", "website", "replication", "encryption",
            "logging", "object-lock", "retention", "legal-hold", "torrent", "restore",
            "select", "accelerate", "requestPayment", "ownershipControls", "analytics",
            "metrics", "inventory", "intelligent-tiering", "publicAccessBlock", "policyStatus",
            "versions", "attributes", "session", "metadataTable")  # fmt: skip


SUBRESOURCES = ("location", "tagging", "notification", "versioning", "uploads", "delete",
                "uploadId")  # fmt: skip


async def route(call: S3Call) -> Response:
    """Runs the operation the request is, once IAM lets the caller do it."""
    request = call.request
    level = "object" if call.key else ("bucket" if call.bucket else "service")
    query = request.query_params
    unserved = next((name for name in UNSERVED if name in query), None)
    if unserved is not None:
        raise S3Error("NotImplemented", f"firebox does not implement ?{unserved} yet", 501)
    sub = next((name for name in SUBRESOURCES if name in query), "")
    found = TABLE.get((request.method, level, sub))
    if found is None:
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this "
                      "resource.", 405)  # fmt: skip
    call.operation, action, handler = found
    if (
        request.method == "PUT"
        and level == "object"
        and sub == ""
        and ("x-amz-copy-source" in request.headers)
    ):
        call.operation, handler = "CopyObject", objects.copy_object
    if sub == "uploadId" and request.method == "PUT" and "x-amz-copy-source" in request.headers:
        call.operation, handler = "UploadPartCopy", multipart.upload_part_copy
    if (
        sub == ""
        and request.method == "GET"
        and level == "bucket"
        and (query.get("list-type") == "2")
    ):
        call.operation = "ListObjectsV2"
    version = query.get("versionId")
    if version is not None and version != "null":  # no versioning: only the null version
        raise S3Error("InvalidArgument", "Invalid version id specified", 400, version)
    resource = f"arn:aws:s3:::{call.bucket}" + (f"/{call.key}" if call.key else "")
    if action:
        authorize(request, call.caller, action, resource if call.bucket else "*", "AccessDenied")
    return await handler(call)

"""The S3-compatible object store through boto3, the AWS CLI, the JavaScript SDK and raw HTTP:
buckets, objects, listings, copies, multipart, checksums, presigned URLs, errors, memory."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from firebox.auth.keys import KeyStore
from support import FireboxServer, unique, wait_for

AWS = str(Path(sys.executable).parent / "aws")
SDK_DIR = Path(__file__).resolve().parents[1] / "sdk-js"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("s3") / "data")
    server.start()
    yield server
    server.stop()


def s3_client(url: str, **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, **config))  # fmt: skip


@pytest.fixture
def s3(store: FireboxServer) -> Any:
    return s3_client(store.url)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = unique("bkt").lower().replace("_", "-")
    s3.create_bucket(Bucket=name)
    return name


def error(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], exc.value.response[
        "Error"]["Code"]  # fmt: skip


# ----- buckets --------------------------------------------------------------------------------
def test_bucket_lifecycle_and_errors(s3: Any, store: FireboxServer) -> None:
    name = unique("life").lower().replace("_", "-")
    assert s3.create_bucket(Bucket=name)["Location"] == f"/{name}"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None  # us-east-1
    assert error(lambda: s3.create_bucket(Bucket=name)) == (409, "BucketAlreadyOwnedByYou")
    for bad in ("ab", "UPPER", "a..b", "192.168.1.1", "-dash", "x" * 64, "xn--punycode"):
        assert error(lambda b=bad: s3.create_bucket(Bucket=b)) == (400, "InvalidBucketName")
    assert error(lambda: s3.get_bucket_tagging(Bucket=name)) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "team", "Value": "a"}]
    s3.put_object(Bucket=name, Key="k", Body=b"1")
    assert error(lambda: s3.delete_bucket(Bucket=name)) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert error(lambda: s3.head_bucket(Bucket=name)) == (404, "404")
    assert error(lambda: s3.list_objects_v2(Bucket=name)) == (404, "NoSuchBucket")
    assert error(lambda: s3.delete_bucket(Bucket=name)) == (404, "NoSuchBucket")
    # HEAD errors have no body, as S3's
    head = httpx.head(f"{store.url}/{name}/x", headers=_signed_headers())
    assert head.status_code == 404 and head.content == b""


def _scope_s3() -> str:
    """An Authorization header for S3 in open mode (its form is all that is checked)."""
    return ("AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=00")  # fmt: skip


def _signed_headers() -> dict[str, str]:
    return {
        "authorization": _scope_s3(),
        "x-amz-date": "20260101T000000Z",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    }


# ----- objects --------------------------------------------------------------------------------
def test_put_get_head_with_metadata_and_system_headers(s3: Any, bucket: str) -> None:
    body = b"hello, objects"
    put = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=body, ContentType="text/plain",
                        Metadata={"owner": "ann"}, CacheControl="max-age=60",
                        ContentDisposition="attachment", Tagging="a=1&b=2")  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "ann"}
    assert got["CacheControl"] == "max-age=60" and got["ContentDisposition"] == "attachment"
    assert got["ContentLength"] == len(body) and got["ETag"] == put["ETag"]
    assert got["TagCount"] == 2
    head = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert head["ContentLength"] == len(body) and head["Metadata"] == {"owner": "ann"}
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/hello.txt")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]  # fmt: skip
    s3.put_object_tagging(Bucket=bucket, Key="dir/hello.txt",
                          Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})  # fmt: skip
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/hello.txt")["TagSet"] == [
        {"Key": "c", "Value": "3"}]  # fmt: skip
    s3.delete_object_tagging(Bucket=bucket, Key="dir/hello.txt")
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/hello.txt")["TagSet"] == []
    # response-* overrides
    over = s3.get_object(Bucket=bucket, Key="dir/hello.txt", ResponseContentType="x/y",
                         ResponseContentDisposition="inline")  # fmt: skip
    assert over["ContentType"] == "x/y" and over["ContentDisposition"] == "inline"
    assert error(lambda: s3.get_object(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")
    assert error(lambda: s3.head_object(Bucket=bucket, Key="missing")) == (404, "404")
    assert error(lambda: s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"")) == (
        404, "NoSuchBucket")  # fmt: skip
    empty = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert empty["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_ranges_and_conditional_reads(s3: Any, bucket: str) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: kept in a file, not inline
    etag = s3.put_object(Bucket=bucket, Key="r", Body=data)["ETag"]
    small = s3.put_object(Bucket=bucket, Key="s", Body=b"0123456789")["ETag"]
    for key, content in (("r", data), ("s", b"0123456789")):
        part = s3.get_object(Bucket=bucket, Key=key, Range="bytes=2-5")
        assert part["Body"].read() == content[2:6]
        assert part["ContentRange"] == f"bytes 2-5/{len(content)}"
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert (
            s3.get_object(Bucket=bucket, Key=key, Range="bytes=-3")["Body"].read() == content[-3:]
        )
        assert s3.get_object(Bucket=bucket, Key=key, Range="bytes=4-")["Body"].read() == content[4:]
        past_end = f"bytes={len(content)}-"
        assert error(lambda k=key, r=past_end: s3.get_object(Bucket=bucket, Key=k, Range=r)) == (
            416, "InvalidRange")  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == data
    assert error(lambda: s3.get_object(Bucket=bucket, Key="r", IfMatch='"abc"')) == (
        412, "PreconditionFailed")  # fmt: skip
    assert error(lambda: s3.get_object(Bucket=bucket, Key="s", IfNoneMatch=small)) == (304, "304")
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    assert error(lambda: s3.get_object(Bucket=bucket, Key="s", IfModifiedSince=later)) == (
        304, "304")  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="s", IfModifiedSince=earlier)["Body"].read()
    assert error(lambda: s3.get_object(Bucket=bucket, Key="s", IfUnmodifiedSince=earlier)) == (
        412, "PreconditionFailed")  # fmt: skip


def test_conditional_writes(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert error(lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"second",
                                       IfNoneMatch="*")) == (412, "PreconditionFailed")  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"  # intact
    etag = s3.head_object(Bucket=bucket, Key="once")["ETag"]
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch=etag)
    assert error(lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"4",
                                       IfMatch=etag)) == (412, "PreconditionFailed")  # fmt: skip


def test_delete_and_delete_many(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="d/0")
    s3.delete_object(Bucket=bucket, Key="d/never-existed")  # S3 answers 204 all the same
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "d/1"}, {"Key": "d/2"}, {"Key": "d/missing"}]})  # fmt: skip
    assert sorted(d["Key"] for d in result["Deleted"]) == ["d/1", "d/2", "d/missing"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/4"]
    too_many = {"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
    assert error(lambda: s3.delete_objects(Bucket=bucket, Delete=too_many)) == (
        400, "MalformedXML")  # fmt: skip


def test_copy_object(s3: Any, bucket: str) -> None:
    other = unique("dst").lower().replace("_", "-")
    s3.create_bucket(Bucket=other)
    big = os.urandom(300 * 1024)
    s3.put_object(Bucket=bucket, Key="src", Body=big, Metadata={"a": "1"}, ContentType="x/a",
                  Tagging="t=1")  # fmt: skip
    copied = s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(big).hexdigest()}"'
    got = s3.get_object(Bucket=other, Key="dst")
    assert got["Body"].read() == big and got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "x/a" and got["TagCount"] == 1
    s3.copy_object(
        Bucket=other,
        Key="replaced",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="x/b",
    )
    head = s3.head_object(Bucket=other, Key="replaced")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "x/b"
    # the source stays, and deleting it leaves the copy whole (the bytes are its own)
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=other, Key="dst")["Body"].read() == big
    s3.put_object(Bucket=bucket, Key="same", Body=b"x")
    assert error(
        lambda: s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same")
    ) == (400, "InvalidRequest")
    s3.copy_object(Bucket=bucket, Key="same", CopySource=f"{bucket}/same",
                   MetadataDirective="REPLACE", Metadata={"new": "y"})  # fmt: skip
    assert s3.head_object(Bucket=bucket, Key="same")["Metadata"] == {"new": "y"}
    assert error(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource=f"{bucket}/none")) == (
        404, "NoSuchKey")  # fmt: skip
    assert error(
        lambda: s3.copy_object(
            Bucket=bucket, Key="x", CopySource=f"{bucket}/same", CopySourceIfMatch='"nope"'
        )
    ) == (412, "PreconditionFailed")


# ----- listings -------------------------------------------------------------------------------
def test_listings_prefix_delimiter_pages(s3: Any, bucket: str) -> None:
    keys = ["a.txt", "b/1", "b/2", "b/c/3", "c/4", "d", "sp ace+plus&amp", "ü/umlaut"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(
        keys, key=lambda k: k.encode())  # fmt: skip
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "d", "sp ace+plus&amp"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["b/", "c/", "ü/"]
    under = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in under["Contents"]] == ["b/1", "b/2"]
    assert [p["Prefix"] for p in under["CommonPrefixes"]] == ["b/c/"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="c/4")["Contents"]] == [
        "d", "sp ace+plus&amp", "ü/umlaut"]  # fmt: skip
    # pages of two, through boto3's paginator (continuation tokens), with the delimiter
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    seen = []
    for page in pages:
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])]
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert sorted(seen) == sorted(["a.txt", "b/", "c/", "d", "sp ace+plus&amp", "ü/"])
    v1 = s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
    assert [o["Key"] for p in v1 for o in p["Contents"]] == sorted(keys, key=lambda k: k.encode())
    truncated = s3.list_objects(Bucket=bucket, MaxKeys=1)
    assert truncated["IsTruncated"] and len(truncated["Contents"]) == 1
    empty = s3.list_objects_v2(Bucket=bucket, Prefix="zzz")
    assert empty["KeyCount"] == 0 and "Contents" not in empty


# ----- multipart ------------------------------------------------------------------------------
MB = 1024 * 1024


def test_multipart_by_hand(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="x/mp",
                                        Metadata={"m": "1"})["UploadId"]  # fmt: skip
    one, two = os.urandom(5 * MB), os.urandom(1000)
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=one)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=two)["ETag"]
    assert [
        p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    ] == [1, 2]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp", upload)]
    parts = [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
    assert error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts[::-1]})) == (
        400, "InvalidPartOrder")  # fmt: skip
    assert error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0"'}]},
        )
    ) == (400, "InvalidPart")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                        MultipartUpload={"Parts": parts})  # fmt: skip
    md5s = hashlib.md5(hashlib.md5(one).digest() + hashlib.md5(two).digest()).hexdigest()
    assert done["ETag"] == f'"{md5s}-2"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == one + two and got["ContentType"] == "x/mp"
    assert got["Metadata"] == {"m": "1"}
    # a range across the parts' boundary
    ranged = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MB - 3}-{5 * MB + 2}")
    assert ranged["Body"].read() == one[-3:] + two[:3]
    assert error(lambda: s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)) == (
        404, "NoSuchUpload")  # fmt: skip
    # too small a part (not the last), aborting, and copying a range into a part
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    a = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"a")
    b = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"b")
    assert error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="small", UploadId=small, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": a["ETag"]}, {"PartNumber": 2, "ETag": b["ETag"]}]})) == (
        400, "EntityTooSmall")  # fmt: skip
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)
    assert error(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)) == (
        404,
        "NoSuchUpload",
    )
    copy = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    c1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="copied",
        UploadId=copy,
        PartNumber=1,
        CopySource=f"{bucket}/mp",
        CopySourceRange=f"bytes=0-{5 * MB - 1}",
    )
    s3.complete_multipart_upload(Bucket=bucket, Key="copied", UploadId=copy, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": c1["CopyPartResult"]["ETag"]}]})  # fmt: skip
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == one
    assert error(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId="nope", PartNumber=1,
                                        Body=b"x")) == (404, "NoSuchUpload")  # fmt: skip


def test_managed_transfers_parallel_parts(s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(40 * MB)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB,
                            max_concurrency=5)  # fmt: skip
    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-5"')
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target), Config=config)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


# ----- what current SDKs send -----------------------------------------------------------------
def test_checksums_stored_returned_and_checked(s3: Any, bucket: str) -> None:
    body = b"checksummed bytes"
    for algorithm in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
        got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        assert got["Body"].read() == body
        assert got[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
    crc = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    assert s3.head_object(Bucket=bucket, Key="CRC32", ChecksumMode="ENABLED")[
        "ChecksumCRC32"] == crc  # fmt: skip
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert s3.get_object(Bucket=bucket, Key="SHA256", ChecksumMode="ENABLED")[
        "ChecksumSHA256"] == sha  # fmt: skip
    wrong = base64.b64encode(b"\0\0\0\0").decode()
    assert error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=body,
                                       ChecksumCRC32=wrong)) == (400, "BadDigest")  # fmt: skip
    assert error(lambda: s3.get_object(Bucket=bucket, Key="bad")) == (404, "NoSuchKey")
    bad_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=body,
                                       ContentMD5=bad_md5)) == (400, "BadDigest")  # fmt: skip


def _chunked(payload: bytes, size: int, trailer: str) -> bytes:
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return body + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def test_aws_chunked_body_with_trailing_checksum(
    store: FireboxServer, s3: Any, bucket: str
) -> None:
    """What SDKs send over HTTPS (and the JavaScript SDK over HTTP): an aws-chunked body whose
    CRC32 comes after it, in a trailer; a wrong trailer is refused and stores nothing."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    payload = os.urandom(70_000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()

    def put(key: str, trailer_value: str) -> httpx.Response:
        body = _chunked(payload, 16_384, f"x-amz-checksum-crc32:{trailer_value}")
        headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                   "content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
                   "x-amz-decoded-content-length": str(len(payload))}  # fmt: skip
        request = AWSRequest("PUT", f"{store.url}/{bucket}/{key}", headers=headers, data=body)
        SigV4Auth(Credentials("x", "x"), "s3", "us-east-1").add_auth(request)
        return httpx.put(request.url, headers=dict(request.headers), content=body)

    ok = put("chunked", crc)
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-amz-checksum-crc32"] == crc
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == payload
    bad = put("chunked-bad", base64.b64encode(b"\1\2\3\4").decode())
    assert bad.status_code == 400 and b"<Code>BadDigest</Code>" in bad.content
    assert error(lambda: s3.head_object(Bucket=bucket, Key="chunked-bad")) == (404, "404")


def test_javascript_sdk_streams_chunked_uploads(store: FireboxServer) -> None:
    """A second SDK: the AWS SDK for JavaScript v3 sends a streamed body as aws-chunked with a
    trailing CRC32, validates the checksum of what it reads, and types S3's errors."""
    name = unique("js").lower().replace("_", "-")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
           "AWS_ENDPOINT_URL": store.url, "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
    run = subprocess.run(["node", str(SDK_DIR / "sdk_s3.mjs"), name], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    text = "streamed from node " * 5000
    assert out["put"]["etag"] == f'"{hashlib.md5(text.encode()).hexdigest()}"'
    crc = base64.b64encode(zlib.crc32(text.encode()).to_bytes(4, "big")).decode()
    assert out["put"]["crc32"] == crc and out["got"]["crc32"] == crc
    assert out["got"]["body"] == text and out["got"]["type"] == "text/plain"
    assert out["multipart"]["size"] == 5 * MB + 4 and out["multipart"]["etag"].endswith('-2"')
    assert out["missing"] == {"name": "NoSuchKey", "status": 404}


def test_expect_100_continue(store: FireboxServer, bucket: str, s3: Any) -> None:
    """An uploader that waits for 100 Continue before its body gets it, then its answer."""
    body = b"z" * 100_000
    with socket.create_connection(("127.0.0.1", store.port), timeout=10) as conn:
        conn.sendall(
            f"PUT /{bucket}/continued HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {_scope_s3()}\r\nx-amz-date: 20260101T000000Z\r\n"
            f"x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        first = conn.recv(1024)
        assert first.startswith(b"HTTP/1.1 100 Continue"), first
        conn.sendall(body)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert s3.get_object(Bucket=bucket, Key="continued")["Body"].read() == body


def test_virtual_host_addressing(store: FireboxServer, bucket: str) -> None:
    """`<bucket>.s3.localhost:<port>` and `<bucket>.localhost:<port>` name the bucket."""
    s3 = s3_client(store.url)
    s3.put_object(Bucket=bucket, Key="vh/key.txt", Body=b"virtual")
    for host in (f"{bucket}.s3.localhost:{store.port}", f"{bucket}.localhost:{store.port}"):
        got = httpx.get(f"{store.url}/vh/key.txt", headers={"host": host})
        assert got.status_code == 200 and got.content == b"virtual", host
        listing = httpx.get(f"{store.url}/?list-type=2", headers={"host": host})
        assert b"<Key>vh/key.txt</Key>" in listing.content
    # boto3 forced to virtual-host style, its signed Host kept while the connection goes to
    # loopback (this host's resolver may not map *.localhost)
    virtual = boto3.client("s3", endpoint_url=f"http://localhost:{store.port}",
                           region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x",
                           config=Config(s3={"addressing_style": "virtual"}))  # fmt: skip

    def to_loopback(request: Any, **_: Any) -> None:
        host = request.url.split("/")[2]
        assert host.endswith(f".localhost:{store.port}")
        request.headers["Host"] = host
        request.url = request.url.replace(host, f"127.0.0.1:{store.port}", 1)

    virtual.meta.events.register("before-send.s3", to_loopback)
    assert virtual.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"virtual"
    virtual.put_object(Bucket=bucket, Key="vh/second", Body=b"2")
    assert [o["Key"] for o in virtual.list_objects_v2(Bucket=bucket, Prefix="vh/")["Contents"]] == [
        "vh/key.txt", "vh/second"]  # fmt: skip
    # a bucket that does not exist yet is named by its host too (signed for S3)
    fresh = unique("vhnew").lower().replace("_", "-")
    assert error(lambda: virtual.head_bucket(Bucket=fresh)) == (404, "404")
    virtual.create_bucket(Bucket=fresh)
    virtual.put_object(Bucket=fresh, Key="k", Body=b"in the new bucket")
    assert s3.get_object(Bucket=fresh, Key="k")["Body"].read() == b"in the new bucket"


def test_unsigned_requests_reach_existing_buckets_only(store: FireboxServer, bucket: str,
                                                       s3: Any) -> None:  # fmt: skip
    s3.put_object(Bucket=bucket, Key="open.txt", Body=b"open")
    assert httpx.get(f"{store.url}/{bucket}/open.txt").content == b"open"
    # a path that is no bucket stays with the other services (Lambda's error envelope)
    other = httpx.get(f"{store.url}/no-such-bucket-x/key")
    assert other.status_code == 404 and "application/json" in other.headers["content-type"]


# ----- presigned URLs and signatures ----------------------------------------------------------
def test_presigned_urls_and_signature_errors(start_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "signed"
    made = KeyStore(data).create("tests")
    key = {"AccessKeyId": made.access_key_id, "SecretAccessKey": made.secret_access_key}
    server = start_server("--auth", "sigv4", data_dir=data)
    s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                      aws_access_key_id=key["AccessKeyId"],
                      aws_secret_access_key=key["SecretAccessKey"])  # fmt: skip
    s3.create_bucket(Bucket="presigned")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "presigned", "Key": "up.txt"}, ExpiresIn=60
    )
    assert httpx.put(put_url, content=b"via presigned PUT").status_code == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "presigned", "Key": "up.txt"}, ExpiresIn=60
    )
    assert httpx.get(get_url).content == b"via presigned PUT"
    tampered = get_url.replace("up.txt", "other.txt")
    refused = httpx.get(tampered)
    assert refused.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in refused.content
    unsigned = httpx.get(f"{server.url}/presigned/up.txt")
    assert unsigned.status_code == 403 and b"<Code>AccessDenied</Code>" in unsigned.content
    wrong = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key="wrong",
    )
    assert error(lambda: wrong.get_object(Bucket="presigned", Key="up.txt")) == (
        403, "SignatureDoesNotMatch")  # fmt: skip
    unknown = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIAUNKNOWN000000000",
        aws_secret_access_key="x",
    )
    assert error(lambda: unknown.list_buckets()) == (403, "InvalidAccessKeyId")
    # a body that is not what its signed hash says is refused, and nothing is stored
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{server.url}/presigned/tampered"
    signed = AWSRequest("PUT", url, data=b"original")
    S3SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "s3",
                "us-east-1").add_auth(signed)  # fmt: skip
    sent = httpx.put(url, headers=dict(signed.headers), content=b"replaced")
    assert sent.status_code == 400 and b"XAmzContentSHA256Mismatch" in sent.content
    assert error(lambda: s3.head_object(Bucket="presigned", Key="tampered")) == (404, "404")


# ----- the AWS CLI --------------------------------------------------------------------------------
def test_aws_cli_cp_ls_sync_rm(store: FireboxServer, tmp_path: Path) -> None:
    bucket = unique("cli").lower().replace("_", "-")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip

    def aws(*args: str) -> str:
        run = subprocess.run([AWS, "--endpoint-url", store.url, "s3", *args], env=env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stderr
        return run.stdout

    aws("mb", f"s3://{bucket}")
    local = tmp_path / "tree"
    (local / "sub").mkdir(parents=True)
    (local / "a.txt").write_text("a")
    (local / "sub" / "b.txt").write_text("b")
    (local / "big.bin").write_bytes(os.urandom(12 * MB))  # the CLI goes multipart above 8 MB
    aws("cp", str(local / "a.txt"), f"s3://{bucket}/single/a.txt")
    aws("sync", str(local), f"s3://{bucket}/synced")
    listing = aws("ls", "--recursive", f"s3://{bucket}")
    for key in ("single/a.txt", "synced/a.txt", "synced/sub/b.txt", "synced/big.bin"):
        assert key in listing
    assert "PRE synced/" in aws("ls", f"s3://{bucket}")
    back = tmp_path / "back"
    aws("sync", f"s3://{bucket}/synced", str(back))
    assert (back / "big.bin").read_bytes() == (local / "big.bin").read_bytes()
    assert (back / "sub" / "b.txt").read_text() == "b"
    assert "upload" not in aws("sync", str(local), f"s3://{bucket}/synced")  # nothing changed
    aws("rm", "--recursive", f"s3://{bucket}/synced")
    assert "synced" not in aws("ls", "--recursive", f"s3://{bucket}")
    aws("rm", f"s3://{bucket}/single/a.txt")
    aws("rb", f"s3://{bucket}")


# ----- durability and memory ------------------------------------------------------------------
def _rss_peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_upload_streams_to_disk(start_server: Any, tmp_path: Path) -> None:
    """A 200 MB object, signed with its SHA-256 (checked as it streams in), goes up in one PUT
    and comes down without the server's memory growing by its size."""
    server = start_server()
    s3 = s3_client(server.url)
    s3.create_bucket(Bucket="huge")
    assert server.proc is not None
    size = 200 * MB
    source = tmp_path / "huge.bin"
    block = os.urandom(MB)
    with source.open("wb") as out:
        for _ in range(size // MB):
            out.write(block)
    s3.put_object(Bucket="huge", Key="warm", Body=b"x" * 300_000)  # the paths, loaded once
    before = _rss_peak_kb(server.proc.pid)
    with source.open("rb") as body:
        sent = s3.put_object(Bucket="huge", Key="huge", Body=body)
    digest = hashlib.md5(usedforsecurity=False)
    got = s3.get_object(Bucket="huge", Key="huge")["Body"]
    received = 0
    for chunk in iter(lambda: got.read(MB), b""):
        digest.update(chunk)
        received += len(chunk)
    assert received == size
    expected = hashlib.md5(usedforsecurity=False)
    for _ in range(size // MB):
        expected.update(block)
    assert digest.hexdigest() == expected.hexdigest() == sent["ETag"].strip('"')
    grown_mb = (_rss_peak_kb(server.proc.pid) - before) / 1024
    assert grown_mb < 64, f"the server's peak memory grew by {grown_mb:.0f} MB"


def test_interrupted_put_keeps_previous_version(store: FireboxServer, bucket: str, s3: Any) -> None:
    s3.put_object(Bucket=bucket, Key="kept", Body=b"version one")
    tmp = store.data_dir / "s3" / "tmp"
    with socket.create_connection(("127.0.0.1", store.port), timeout=10) as conn:
        conn.sendall(
            f"PUT /{bucket}/kept HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {_scope_s3()}\r\nx-amz-date: 20260101T000000Z\r\n"
            f"x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: {8 * MB}\r\n\r\n".encode()
            + b"partial" * 150_000  # ~1 MB of 8: past the inline size, so into a file
        )
        wait_for(lambda: any(tmp.iterdir()))  # the body is streaming into a temporary file
        assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"version one"
    # the connection closed mid-body: the temporary file goes, the old version stays whole
    wait_for(lambda: not any(tmp.iterdir()))
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"version one"


def test_kill9_keeps_accepted_objects_and_sweeps_leftovers(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server()
    s3 = s3_client(server.url)
    s3.create_bucket(Bucket="durable")
    big = os.urandom(3 * MB)
    for i in range(20):
        s3.put_object(Bucket="durable", Key=f"k{i}", Body=big if i % 2 else b"small %d" % i)
    leftover = server.data_dir / "s3" / "tmp" / "half-written"
    leftover.write_bytes(b"x" * 1000)
    orphan = server.data_dir / "s3" / "blobs" / "ff" / "ff00orphan"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"an object file no record names")
    server.kill()
    server.start()
    s3 = s3_client(server.url)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="durable")["Contents"]]
    assert sorted(keys) == sorted(f"k{i}" for i in range(20))
    assert s3.get_object(Bucket="durable", Key="k3")["Body"].read() == big
    assert s3.get_object(Bucket="durable", Key="k4")["Body"].read() == b"small 4"
    assert not leftover.exists() and not orphan.exists()


def test_firebox_buckets_cli(store: FireboxServer, s3: Any) -> None:
    name = unique("listed").lower().replace("_", "-")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="a", Body=b"x" * 2048)
    s3.put_object(Bucket=name, Key="b", Body=b"y")
    firebox = str(Path(sys.executable).parent / "firebox")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    shown = subprocess.run([firebox, "buckets", "--endpoint", store.url], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.startswith(name))
    assert line.split()[1:4] == ["2", "2.0", "KiB"]
    down = subprocess.run([firebox, "buckets", "--endpoint", "http://127.0.0.1:9"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode != 0 and "cannot reach firebox" in down.stderr


def test_version_ids_other_than_null_are_refused(s3: Any, bucket: str) -> None:
    """No versioning: only the `null` version exists; another id never acts on the object."""
    s3.put_object(Bucket=bucket, Key="v", Body=b"current")
    assert s3.get_object(Bucket=bucket, Key="v", VersionId="null")["Body"].read() == b"current"
    assert error(lambda: s3.get_object(Bucket=bucket, Key="v", VersionId="abc")) == (
        400, "InvalidArgument")  # fmt: skip
    assert error(lambda: s3.delete_object(Bucket=bucket, Key="v", VersionId="abc")) == (
        400, "InvalidArgument")  # fmt: skip
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "v", "VersionId": "abc"}]})  # fmt: skip
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("v", "InvalidArgument")]
    assert error(
        lambda: s3.copy_object(
            Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "v", "VersionId": "abc"}
        )
    ) == (400, "InvalidArgument")
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"current"


def test_an_abandoned_get_lets_its_files_go(store: FireboxServer, s3: Any, bucket: str) -> None:
    """A GET whose client goes away (before or while the bytes flow) does not keep a replaced
    or deleted object's file on disk."""
    blobs = store.data_dir / "s3" / "blobs"

    def files() -> int:
        return sum(1 for _ in blobs.rglob("*") if _.is_file())

    before = files()
    s3.put_object(Bucket=bucket, Key="abandoned", Body=os.urandom(4 * MB))
    assert files() == before + 1
    for read in (0, 300_000):  # gone before the first byte, and part-way
        with socket.create_connection(("127.0.0.1", store.port), timeout=10) as conn:
            conn.sendall(f"GET /{bucket}/abandoned HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Authorization: {_scope_s3()}\r\nx-amz-date: 20260101T000000Z\r\n"
                         "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\r\n".encode())  # fmt: skip
            got = 0
            while got < read:
                got += len(conn.recv(65536))
    s3.delete_object(Bucket=bucket, Key="abandoned")
    wait_for(lambda: files() == before)

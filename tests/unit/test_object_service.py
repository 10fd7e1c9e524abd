"""The object store's core without HTTP: listings, multipart rules, preconditions that hold
when a write lands, notification rules and records, ranges and conditions, blob files."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from firebox.objects import conditions, notifications
from firebox.objects.conditions import Conditions, NotModified
from firebox.objects.errors import S3Error
from firebox.objects.notifications import Actor, Rule
from firebox.objects.records import ObjectRecord
from firebox.objects.service import MIN_PART, NewObject, ObjectService
from firebox.objects.store import Change, PutObject


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ObjectService]:
    objects = ObjectService(tmp_path / "s3", "us-east-1", clock=Clock(), clock_ns=lambda: 1)
    yield objects
    objects.close()


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def put(service: ObjectService, bucket: str, key: str, data: bytes = b"x", **kw: Any) -> Any:
    return run(service.put_object(bucket, key, body(data), NewObject(), **kw))


def test_listing_rolls_up_common_prefixes_across_pages(service: ObjectService) -> None:
    run(service.create_bucket("b1b"))
    keys = ["a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d"]
    for key in keys:
        put(service, "b1b", key)
    listing = service.list_objects("b1b", "", "/", "", 1000)
    assert [o.key for o in listing.contents] == ["b", "d"]
    assert listing.prefixes == ["a/", "c/"] and not listing.truncated
    # two entries a page, each page starting where the last ended (a prefix or a key)
    seen: list[str] = []
    marker = ""
    while True:
        page = service.list_objects("b1b", "", "/", marker, 2)
        seen += [o.key for o in page.contents] + page.prefixes
        if not page.truncated:
            break
        marker = page.last
    assert sorted(seen) == ["a/", "b", "c/", "d"]  # each once, none skipped
    nested = service.list_objects("b1b", "c/", "/", "", 1000)
    assert nested.prefixes == ["c/x/"] and [o.key for o in nested.contents] == ["c/y"]
    assert [o.key for o in service.list_objects("b1b", "a/", "", "a/1", 1000).contents] == [
        "a/2", "a/3"]  # fmt: skip
    assert service.list_objects("b1b", "", "", "", 0).contents == []


def test_prefix_scans_stop_at_the_prefix(service: ObjectService) -> None:
    run(service.create_bucket("pfx"))
    for key in ("ab", "abc", "ab\U0010ffff", "ac", "b"):
        put(service, "pfx", key)
    assert [o.key for o in service.list_objects("pfx", "ab", "", "", 100).contents] == [
        "ab", "abc", "ab\U0010ffff"]  # fmt: skip


def test_a_refused_change_leaves_the_rest_of_its_batch(service: ObjectService) -> None:
    run(service.create_bucket("bat"))
    put(service, "bat", "exists")
    record = ObjectRecord("exists", 1, "e", 0.0)
    fresh = ObjectRecord("fresh", 1, "e", 0.0)
    applied = service.store.apply([
        Change((PutObject("bat", record, b"1", if_none_match=True),)),
        Change((PutObject("bat", fresh, b"2", if_none_match=True),)),
    ])  # fmt: skip
    assert applied[0].refused is not None and applied[0].refused.error_type == "PreconditionFailed"
    assert applied[1].refused is None
    for key, data in (("exists", b"x"), ("fresh", b"2")):
        found = service.store.object_and_data("bat", key)
        assert found is not None and found[1] == data


def test_replacing_an_object_removes_its_old_file(service: ObjectService) -> None:
    run(service.create_bucket("rep"))
    big = b"z" * (200 * 1024)
    first = put(service, "rep", "k", big)
    old = service.blobs.path(first.blobs[0])
    assert old.exists()
    put(service, "rep", "k", b"small now")
    assert not old.exists()
    record, opened = service.open("rep", "k")
    assert b"".join(opened.chunks(0, record.size - 1)) == b"small now"


def test_a_failed_checksum_stores_nothing(service: ObjectService) -> None:
    run(service.create_bucket("sum"))
    wrong = NewObject(claimed={"SHA256": "AAAA"})
    with pytest.raises(S3Error) as exc:
        run(service.put_object("sum", "k", body(b"a" * 300_000), wrong))
    assert exc.value.error_type == "BadDigest"
    assert service.store.object("sum", "k") is None
    assert list(service.blobs.tmp.iterdir()) == []
    assert all(not any(d.iterdir()) for d in service.blobs.blobs.iterdir())


def test_multipart_rules_and_etag(service: ObjectService) -> None:
    run(service.create_bucket("mpu"))
    upload = run(service.create_upload("mpu", "k", NewObject()))
    one, two = b"1" * MIN_PART, b"2" * 10
    p1 = run(service.upload_part("mpu", "k", upload.upload_id, 1, body(one), NewObject()))
    p2 = run(service.upload_part("mpu", "k", upload.upload_id, 2, body(two), NewObject()))
    with pytest.raises(S3Error) as exc:
        run(service.upload_part("mpu", "k", upload.upload_id, 10001, body(b""), NewObject()))
    assert exc.value.error_type == "InvalidArgument"
    with pytest.raises(S3Error) as exc:
        run(service.complete_upload("mpu", "k", upload.upload_id, [(2, p2.etag), (1, p1.etag)]))
    assert exc.value.error_type == "InvalidPartOrder"
    with pytest.raises(S3Error) as exc:
        run(service.complete_upload("mpu", "other", upload.upload_id, [(1, p1.etag)]))
    assert exc.value.error_type == "NoSuchUpload"  # an upload is of one key
    done = run(service.complete_upload("mpu", "k", upload.upload_id,
                                       [(1, f'"{p1.etag}"'), (2, p2.etag)]))  # fmt: skip
    expected = hashlib.md5(hashlib.md5(one).digest() + hashlib.md5(two).digest()).hexdigest()
    assert done.etag == f"{expected}-2" and done.size == len(one) + len(two)
    _record, opened = service.open("mpu", "k")
    assert b"".join(opened.chunks(MIN_PART - 2, MIN_PART + 1)) == b"1122"
    assert service.uploads("mpu") == []


def test_deleting_a_bucket_with_uploads_frees_their_parts(service: ObjectService) -> None:
    run(service.create_bucket("gone"))
    upload = run(service.create_upload("gone", "k", NewObject()))
    part = run(service.upload_part("gone", "k", upload.upload_id, 1, body(b"p"), NewObject()))
    run(service.delete_bucket("gone"))
    assert not service.blobs.path(part.blob).exists()
    assert service.load() == 0  # nothing left over to sweep


def test_sweep_drops_leftovers_but_keeps_objects(service: ObjectService) -> None:
    run(service.create_bucket("swp"))
    kept = put(service, "swp", "k", b"k" * 200_000)
    (service.blobs.tmp / "partial").write_bytes(b"half")
    orphan = service.blobs.path("ab" + "0" * 30)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan")
    assert service.load() == 2
    assert service.blobs.path(kept.blobs[0]).exists() and not orphan.exists()


# ----- notification rules -----------------------------------------------------------------
def rule(events: tuple[str, ...], prefix: str = "", suffix: str = "") -> dict[str, Any]:
    filters = [{"Name": "prefix", "Value": prefix}] if prefix else []
    filters += [{"Name": "suffix", "Value": suffix}] if suffix else []
    return {
        "LambdaFunctionArn": "arn:aws:lambda:us-east-1:0:function:f",
        "Events": list(events),
        "FilterRules": filters,
    }


@pytest.mark.parametrize(("a", "b", "overlap"), [
    (rule(("s3:ObjectCreated:*",)), rule(("s3:ObjectCreated:Put",)), True),
    (rule(("s3:ObjectCreated:*",), "a/"), rule(("s3:ObjectCreated:*",), "b/"), False),
    (rule(("s3:ObjectCreated:*",), "a/"), rule(("s3:ObjectCreated:*",), "a/b/"), True),
    (rule(("s3:ObjectCreated:*",), suffix=".jpg"), rule(("s3:ObjectCreated:*",), suffix=".png"),
     False),
    (rule(("s3:ObjectCreated:*",), suffix=".jpg"), rule(("s3:ObjectCreated:*",), suffix="g"),
     True),
    (rule(("s3:ObjectCreated:Put",)), rule(("s3:ObjectCreated:Copy",)), False),
    (rule(("s3:ObjectCreated:*",)), rule(("s3:ObjectRemoved:*",)), False),
])  # fmt: skip
def test_overlapping_configurations_are_refused(a: Any, b: Any, overlap: bool) -> None:
    config = {"LambdaFunctionConfigurations": [a, b]}
    if overlap:
        with pytest.raises(S3Error, match="Configurations overlap"):
            notifications.parse(config)
    else:
        assert len(notifications.parse(config)) == 2


def test_rules_match_event_types_and_keys() -> None:
    created = Rule("r", "lambda", "arn", ("s3:ObjectCreated:*",), "in/", ".jpg")
    assert created.matches("ObjectCreated:Put", "in/a.jpg")
    assert created.matches("ObjectCreated:CompleteMultipartUpload", "in/b.jpg")
    assert not created.matches("ObjectRemoved:Delete", "in/a.jpg")
    assert not created.matches("ObjectCreated:Put", "out/a.jpg")
    assert not created.matches("ObjectCreated:Put", "in/a.png")
    copy_only = Rule("r", "lambda", "arn", ("s3:ObjectCreated:Copy",))
    assert copy_only.matches("ObjectCreated:Copy", "x")
    assert not copy_only.matches("ObjectCreated:Put", "x")


def test_keys_are_encoded_as_s3_encodes_them() -> None:
    assert notifications.encode_key("my photo.jpg") == "my+photo.jpg"
    assert notifications.encode_key("a/b+c=d:e") == "a/b%2Bc%3Dd%3Ae"
    assert notifications.encode_key("ü.txt") == "%C3%BC.txt"


def test_notices_are_stored_with_the_write(service: ObjectService) -> None:
    run(service.create_bucket("ntf"))
    service.check_destinations = lambda bucket, rules: None
    run(service.put_notifications("ntf", {"QueueConfigurations": [{
        "QueueArn": "arn:aws:sqs:us-east-1:0:q", "Events": ["s3:ObjectCreated:*"],
        "FilterRules": []}]}, "req"))  # fmt: skip
    actor = Actor("AWS:me", "10.0.0.1", "REQ", lineage=3)
    run(service.put_object("ntf", "a b", body(b"abc"), NewObject(), actor))
    put(service, "ntf", "no-actor")  # firebox's own writes (no actor) notify no one
    (notice,) = service.pending_notices()
    assert notice.kind == "sqs" and notice.lineage == 3
    record = __import__("json").loads(notice.body)["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"] == {
        "key": "a+b",
        "size": 3,
        "eTag": hashlib.md5(b"abc").hexdigest(),
        "sequencer": record["s3"]["object"]["sequencer"],
    }
    assert record["userIdentity"] == {"principalId": "AWS:me"}
    assert record["requestParameters"] == {"sourceIPAddress": "10.0.0.1"}
    assert record["eventTime"] == "2023-11-14T22:13:20.000Z"
    run(service.delivered([notice.id]))
    assert service.pending_notices() == []


# ----- ranges and conditions --------------------------------------------------------------
@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-9", (0, 9)), ("bytes=5-", (5, 99)), ("bytes=-10", (90, 99)),
    ("bytes=90-200", (90, 99)), ("bytes=-200", (0, 99)), (None, None),
    ("items=0-1", None), ("bytes=0-1,5-6", None), ("bytes=9-3", None), ("bytes=x-1", None),
])  # fmt: skip
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert conditions.byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(S3Error) as exc:
        conditions.byte_range(header, 100)
    assert exc.value.error_type == "InvalidRange" and exc.value.status == 416


def test_conditions_in_rfc_order() -> None:
    obj = ObjectRecord("k", 1, "abc", 1_700_000_000.0)
    old, new = "Tue, 14 Nov 2023 00:00:00 GMT", "Wed, 15 Nov 2023 00:00:00 GMT"
    conditions.check(obj, Conditions(if_match='"abc"'))
    with pytest.raises(S3Error):
        conditions.check(obj, Conditions(if_match='"zzz"'))
    # If-Match holding wins over If-Unmodified-Since failing (RFC 7232, as S3)
    conditions.check(obj, Conditions(if_match="abc", if_unmodified_since=old))
    with pytest.raises(NotModified):
        conditions.check(obj, Conditions(if_none_match='"abc"'))
    with pytest.raises(NotModified):
        conditions.check(obj, Conditions(if_modified_since=new))
    conditions.check(obj, Conditions(if_modified_since=old))
    # If-None-Match not matching wins over If-Modified-Since failing
    conditions.check(obj, Conditions(if_none_match='"other"', if_modified_since=new))
    with pytest.raises(S3Error):  # a copy's source: 412, never 304
        conditions.check(obj, Conditions(if_none_match="abc"), copy_source=True)


# ----- races the review found: each change decided by the store as it lands ---------------
def test_tagging_never_restores_a_replaced_version(service: ObjectService) -> None:
    run(service.create_bucket("tag"))
    big = b"t" * 300_000
    put(service, "tag", "k", big)

    async def race() -> None:  # the tags land after a same-content PUT replaced the files
        replaced = service.put_object("tag", "k", body(big), NewObject())
        await asyncio.gather(replaced, service.put_tags("tag", "k", {"a": "1"}))

    run(race())
    record, opened = service.open("tag", "k")
    assert record.tags in ({}, {"a": "1"})  # whichever landed last; never a stale version
    assert b"".join(opened.chunks(0, record.size - 1)) == big
    assert all(service.blobs.path(b).exists() for b in record.blobs)


def test_a_completion_refuses_parts_re_uploaded_meanwhile(service: ObjectService) -> None:
    from firebox.objects.store import DropUpload

    run(service.create_bucket("cmp"))
    upload = run(service.create_upload("cmp", "k", NewObject()))
    first = run(service.upload_part("cmp", "k", upload.upload_id, 1, body(b"a"), NewObject()))
    again = run(service.upload_part("cmp", "k", upload.upload_id, 1, body(b"b"), NewObject()))
    assert not service.blobs.path(first.blob).exists()  # the replaced part's file went
    (stale,) = service.store.apply(
        [Change((DropUpload(upload.upload_id, expect=((1, first.blob),)),))]
    )
    assert stale.refused is not None and stale.refused.error_type == "InvalidPart"
    done = run(service.complete_upload("cmp", "k", upload.upload_id, [(1, again.etag)]))
    _record, opened = service.open("cmp", "k")
    assert done.blobs == (again.blob,) and b"".join(opened.chunks(0, 0)) == b"b"


def test_delete_notifies_only_what_it_deleted(service: ObjectService) -> None:
    run(service.create_bucket("del"))
    run(service.put_notifications("del", {"QueueConfigurations": [{
        "QueueArn": "arn:aws:sqs:us-east-1:0:q", "Events": ["s3:ObjectRemoved:*"],
        "FilterRules": []}]}, "req"))  # fmt: skip
    actor = Actor("AWS:me", "127.0.0.1", "REQ")
    run(service.delete_object("del", "never-there", actor))
    assert service.pending_notices() == []
    put(service, "del", "k")
    results = run(service.delete_objects("del", ["k", "k", "missing"], actor))
    assert [r.error for r in results] == [None, None, None]
    assert len(service.pending_notices()) == 1  # the one delete that found the object


def test_a_reader_keeps_a_replaced_objects_files(service: ObjectService) -> None:
    run(service.create_bucket("rdr"))
    old = b"o" * 300_000
    first = put(service, "rdr", "k", old)
    record, opened = service.open("rdr", "k")
    put(service, "rdr", "k", b"n" * 300_000)  # replaced while the GET has not read a byte
    assert service.blobs.path(first.blobs[0]).exists()
    assert b"".join(opened.chunks(0, record.size - 1)) == old  # the version it opened
    assert not service.blobs.path(first.blobs[0]).exists()  # gone once the reader was done

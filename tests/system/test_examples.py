"""The apps of examples/, each deployed with one command (`firebox deploy`) as its README
says, then used through HTTP and the AWS APIs (boto3). Their requirements.txt files are
installed by pip from the bootstrap's wheelhouse: no test downloads anything."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image

from support import FIREBOX, FireboxServer, wait_for

EXAMPLES = Path(__file__).parents[2] / "examples"
WHEELHOUSE = Path(sys.executable).parent.parent / "wheelhouse"


def aws(server: FireboxServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip


def deploy(server: FireboxServer, example: str, tmp_path: Path) -> Path:
    """A copy of the example deployed as its README says; returns the copy."""
    assert (WHEELHOUSE / ".complete").exists(), f"{WHEELHOUSE} is missing: run make bootstrap"
    copy = tmp_path / example
    shutil.copytree(EXAMPLES / example, copy, ignore=shutil.ignore_patterns("build", "*.zip"))
    env = {**os.environ, "FIREBOX_ENDPOINT": server.url, "XDG_CACHE_HOME": str(tmp_path / "c"),
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}  # fmt: skip
    done = subprocess.run([FIREBOX, "deploy"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "_COMPLETE stack" in done.stdout
    assert "warning" not in done.stdout, done.stdout  # every part of each example is made
    return copy


def logged(server: FireboxServer, function: str, text: str) -> list[str]:
    logs = aws(server, "logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events if text in e["message"]]


def test_thumbnails(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    deploy(server, "thumbnails", tmp_path)
    s3 = aws(server, "s3")
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(picture, format="JPEG")
    s3.put_object(Bucket="photos", Key="cat.jpg", Body=picture.getvalue())
    s3.put_object(Bucket="photos", Key="notes.txt", Body=b"not a picture")  # no trigger

    def thumbnail() -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket="photos-thumbs", Key="thumb-cat.jpg")["Body"].read()
            return body
        except s3.exceptions.NoSuchKey:
            return None

    with Image.open(io.BytesIO(wait_for(thumbnail, 60))) as made:
        assert made.size == (128, 96)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="photos-thumbs")["Contents"]]
    assert keys == ["thumb-cat.jpg"]


def test_queue_worker(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    deploy(server, "queue-worker", tmp_path)
    sqs = aws(server, "sqs")
    orders = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    dead = sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=orders, Entries=[
        {"Id": "good", "MessageBody": json.dumps({"id": 1, "item": "tea", "quantity": 2})},
        {"Id": "bad", "MessageBody": json.dumps({"id": 2, "item": "tea", "quantity": 0})},
        {"Id": "also", "MessageBody": json.dumps({"id": 3, "item": "cake", "quantity": 1})},
    ])  # fmt: skip

    def dead_letter() -> list[dict[str, Any]] | None:
        got = sqs.receive_message(QueueUrl=dead, WaitTimeSeconds=1, MaxNumberOfMessages=10)
        return got.get("Messages")

    (moved,) = wait_for(dead_letter, 60)
    assert json.loads(moved["Body"])["id"] == 2
    assert len(logged(server, "orders-dev-worker", "order 1: 2 x tea")) == 1
    assert len(logged(server, "orders-dev-worker", "order 3: 1 x cake")) == 1
    assert len(logged(server, "orders-dev-worker", "failed ")) == 2  # received twice
    attributes = sqs.get_queue_attributes(QueueUrl=orders, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_scheduled_job(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    deploy(server, "scheduled-job", tmp_path)
    events, lam, s3 = aws(server, "events"), aws(server, "lambda"), aws(server, "s3")
    function = lam.get_function(FunctionName="nightly-dev-report")["Configuration"]
    rules = {r["ScheduleExpression"]: r for r in events.list_rules()["Rules"]}
    assert rules["cron(0 6 * * ? *)"]["State"] == "ENABLED"
    assert rules["rate(7 days)"]["State"] == "DISABLED"
    (target,) = events.list_targets_by_rule(Rule=rules["cron(0 6 * * ? *)"]["Name"])["Targets"]
    assert target["Arn"] == function["FunctionArn"]
    assert json.loads(target["Input"]) == {"kind": "daily"}
    s3.put_object(Bucket="invoices", Key="a.pdf", Body=b"12345")
    s3.put_object(Bucket="invoices", Key="b.pdf", Body=b"123")
    # The job itself, invoked with the input its daily rule sends.
    answer = lam.invoke(FunctionName="nightly-dev-report", Payload=target["Input"].encode())
    report = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, report
    assert report["kind"] == "daily" and report["objects"] == 2 and report["bytes"] == 8
    day = time.strftime("%Y-%m-%d", time.gmtime())
    stored = json.loads(s3.get_object(Bucket="reports", Key=f"daily/{day}.json")["Body"].read())
    assert stored == report


def test_http_api(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    deploy(server, "http-api", tmp_path)
    base = f"{server.url}/http"
    assert httpx.get(f"{base}/", timeout=60).json() == {"service": "todo", "todos": 0}
    made = httpx.post(f"{base}/todos", json={"title": "try firebox"}, timeout=30)
    assert made.status_code == 201
    assert made.json() == {"id": 1, "title": "try firebox", "done": False}
    assert httpx.get(f"{base}/todos/1", timeout=30).json()["title"] == "try firebox"
    missing = httpx.get(f"{base}/todos/9", timeout=30)
    assert missing.status_code == 404 and missing.json() == {"detail": "no such todo"}
    invalid = httpx.post(f"{base}/todos", json={"done": True}, timeout=30)
    assert invalid.status_code == 422


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this host")
def test_node_app(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    deploy(server, "node-app", tmp_path)
    base = f"{server.url}/http/notes"
    saved = httpx.put(f"{base}/first", content=b"hello from node", timeout=60)
    assert saved.status_code == 201 and saved.json() == {"id": "first", "saved": True}
    got = httpx.get(f"{base}/first", timeout=30).json()
    assert got == {"id": "first", "text": "hello from node"}
    assert httpx.get(f"{base}/nope", timeout=30).status_code == 404
    assert httpx.get(base, timeout=30).json() == {"notes": ["first"]}

"""A second, independent SDK: the AWS SDK for JavaScript v3 (installed by the bootstrap from
tests/sdk-js/package-lock.json), run with Node, reaching Lambda and STS through
AWS_ENDPOINT_URL alone, and getting firebox's errors as its own typed exceptions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import FireboxServer, create_function, unique

SDK_DIR = Path(__file__).resolve().parents[1] / "sdk-js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (SDK_DIR / "node_modules").is_dir(),
    reason="node and tests/sdk-js/node_modules come from the bootstrap (make bootstrap)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("sdkjs") / "data").start()
    yield server
    server.stop()


def test_the_javascript_sdk_calls_lambda_and_sts(server: FireboxServer) -> None:
    echo = "def handler(event, context):\n    return {'echo': event}\n"
    name = create_function(server.client(), echo)
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ENDPOINT_URL": server.url, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    }  # fmt: skip
    run = subprocess.run(["node", str(SDK_DIR / "sdk_calls.mjs"), name], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert name in out["functions"]
    assert out["payload"] == {"echo": {"from": "node"}}
    assert out["identity"]["Account"] == "000000000000"
    assert out["identity"]["Arn"] == "arn:aws:iam::000000000000:root"
    assert out["missing"]["name"] == "ResourceNotFoundException"  # its typed exception
    assert out["missing"]["status"] == 404


def test_the_javascript_sdk_uses_sqs(server: FireboxServer) -> None:
    """AWS JSON 1.0 SQS as the JavaScript SDK speaks it; its SQS middleware checks the MD5 of
    every body sent and received, an independent check of firebox's."""
    name = unique("js-queue")
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ENDPOINT_URL": server.url, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    }  # fmt: skip
    run = subprocess.run(["node", str(SDK_DIR / "sdk_sqs.mjs"), name], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["url"] == f"{server.url}/000000000000/{name}"
    assert out["sent"]["md5"] == hashlib.md5("héllo from node".encode()).hexdigest()
    assert out["batch"] == ["a", "b"]
    assert [m["body"] for m in out["received"]] == ["héllo from node", "one", "two"]
    assert out["received"][0]["attributes"] == {
        "kind": {"DataType": "String", "StringValue": "greeting"}}  # fmt: skip
    assert out["deleted"] == 3
    assert out["missing"] == {"name": "QueueDoesNotExist", "status": 400}  # its typed exception

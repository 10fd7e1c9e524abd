"""Signed requests: in sigv4 mode only requests signed with a key firebox issued get through,
each refusal has AWS's error code, and nothing is stored by a refused request."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from firebox.auth.keys import KeyStore
from support import FIREBOX, FireboxServer, create_function, invoke_json, wait_for

FUNCTIONS = "/2015-03-31/functions/"  # ListFunctions (GET)
CREATE = "/2015-03-31/functions"  # CreateFunction (POST)
EMPTY_ZIP = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FireboxServer, Any]]:
    data = tmp_path_factory.mktemp("sigv4") / "data"
    key = KeyStore(data).create("tests")
    server = FireboxServer(data, "--auth", "sigv4").start()
    server.key = key  # type: ignore[attr-defined]
    yield server, key
    server.stop()


def client(server: FireboxServer, key_id: str, secret: str, service: str = "lambda") -> Any:
    return boto3.client(
        service, endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}),
    )  # fmt: skip


def names(server: FireboxServer, key: Any) -> list[str]:
    functions = client(server, key.access_key_id, key.secret_access_key).list_functions()
    return sorted(f["FunctionName"] for f in functions["Functions"])


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_a_key_firebox_issued_signs_lambda_and_logs_calls(
    signed: tuple[FireboxServer, Any],
) -> None:
    server, key = signed
    lam = client(server, key.access_key_id, key.secret_access_key)
    name = create_function(lam, "def handler(event, context):\n    return 'signed'\n")
    assert invoke_json(lam, name)[0] == "signed"
    logs = client(server, key.access_key_id, key.secret_access_key, "logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert any(e["message"].startswith("START RequestId") for e in events)
    assert "firebox: signatures: sigv4" in server.log_path.read_text()


def test_wrong_secret_unknown_key_and_no_signature_are_refused(
    signed: tuple[FireboxServer, Any],
) -> None:
    server, key = signed
    before = names(server, key)
    body = {"FunctionName": "never", "Runtime": "python3.11", "Role": "arn:aws:iam::0:role/r",
            "Handler": "app.handler", "Code": {"ZipFile": b"x"}}  # fmt: skip
    with pytest.raises(ClientError) as wrong:
        client(server, key.access_key_id, "not-the-secret").create_function(**body)
    assert code(wrong) == (403, "InvalidSignatureException")
    assert "does not match the signature you provided" in str(wrong.value)
    with pytest.raises(ClientError) as unknown:
        client(server, "AKIANOTAKEYATALL0000", key.secret_access_key).create_function(**body)
    assert code(unknown) == (403, "UnrecognizedClientException")
    assert "security token included in the request is invalid" in str(unknown.value)
    bare = httpx.get(f"{server.url}{FUNCTIONS}")
    assert bare.status_code == 403
    assert bare.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    assert names(server, key) == before  # nothing was stored by the refused requests


def _signed_request(
    server: FireboxServer, key: Any, method: str, path: str, body: bytes,
    when: datetime.datetime | None = None, service: str = "lambda",
) -> AWSRequest:  # fmt: skip
    """A request signed by botocore's signer as it would be at `when` (default: now)."""
    request = AWSRequest(method=method, url=f"{server.url}{path}", data=body)
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), service, "us-east-1")
    stamp = (when or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    request.headers["Host"] = server.url.split("//", 1)[1]
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    headers = ";".join(sorted(h.lower() for h in request.headers))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key.access_key_id}/{stamp[:8]}/us-east-1/{service}/"
        f"aws4_request, SignedHeaders={headers}, Signature={signature}"
    )
    return request


def _send(request: AWSRequest, body: bytes | None = None) -> httpx.Response:
    return httpx.request(request.method, request.url, headers=dict(request.headers),
                         content=request.body if body is None else body)  # fmt: skip


def test_a_tampered_body_or_a_skewed_clock_is_refused(
    signed: tuple[FireboxServer, Any],
) -> None:
    server, key = signed
    before = names(server, key)
    payload = json.dumps({"FunctionName": "tampered", "Runtime": "python3.11",
                          "Role": "arn:aws:iam::000000000000:role/r", "Handler": "app.handler",
                          "Code": {"ZipFile": EMPTY_ZIP}}).encode()  # fmt: skip
    fine = _send(_signed_request(server, key, "GET", FUNCTIONS, b""))
    assert fine.status_code == 200  # the hand-made signature is right when nothing is changed
    tampered = _send(_signed_request(server, key, "POST", CREATE, payload),
                     body=payload.replace(b"tampered", b"tampere2"))  # fmt: skip
    assert tampered.status_code == 403
    assert tampered.json()["Message"].startswith("The request signature we calculated")
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    skewed = _send(_signed_request(server, key, "POST", CREATE, payload, when=old))
    assert skewed.status_code == 403
    assert skewed.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException")
    assert "Signature expired" in skewed.json()["Message"]
    ahead = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=20)
    future = _send(_signed_request(server, key, "GET", FUNCTIONS, b"", when=ahead))
    assert "Signature not yet current" in future.json()["Message"]
    # (scoped to s3, a request is S3's on the common endpoint: another service shows it)
    wrong_scope = _send(_signed_request(server, key, "GET", FUNCTIONS, b"", service="sqs"))
    assert wrong_scope.status_code == 403
    assert names(server, key) == before


def test_presigned_urls_work_until_they_expire(signed: tuple[FireboxServer, Any]) -> None:
    server, key = signed
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    request = AWSRequest(method="GET", url=f"{server.url}{FUNCTIONS}")
    SigV4QueryAuth(credentials, "lambda", "us-east-1", expires=60).add_auth(request)
    assert httpx.get(request.url).status_code == 200
    # Signed 2 minutes ago for 60 seconds: expired.
    stale = AWSRequest(method="GET", url=f"{server.url}{FUNCTIONS}")
    signer = SigV4QueryAuth(credentials, "lambda", "us-east-1", expires=60)
    import botocore.auth

    real = botocore.auth.get_current_datetime  # botocore reads the clock once per signature
    botocore.auth.get_current_datetime = lambda: real() - datetime.timedelta(minutes=2)
    try:
        signer.add_auth(stale)
    finally:
        botocore.auth.get_current_datetime = real
    expired = httpx.get(stale.url)
    assert expired.status_code == 403 and "Signature expired" in expired.json()["Message"]


def test_the_cli_signs_with_the_configured_key(signed: tuple[FireboxServer, Any]) -> None:
    server, key = signed
    env = {**os.environ, "FIREBOX_ENDPOINT": server.url, "AWS_DEFAULT_REGION": "us-east-1"}
    env |= {"AWS_ACCESS_KEY_ID": key.access_key_id, "AWS_SECRET_ACCESS_KEY": key.secret_access_key}
    listed = subprocess.run([FIREBOX, "ls"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    refused = subprocess.run([FIREBOX, "ls"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "InvalidSignatureException" in refused.stderr


def test_keys_cli_creates_lists_and_revokes(signed: tuple[FireboxServer, Any]) -> None:
    server, _key = signed
    data = str(server.data_dir)
    made = subprocess.run([FIREBOX, "keys", "create", "--data-dir", data, "--description", "ci"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    new = dict(line.split("=", 1) for line in made.split())
    assert oct(Path(data, "access-keys.json").stat().st_mode & 0o777) == "0o600"
    lam = client(server, new["AWS_ACCESS_KEY_ID"], new["AWS_SECRET_ACCESS_KEY"])
    lam.list_functions()  # accepted at once: the server re-reads the key file
    listed = subprocess.run([FIREBOX, "keys", "list", "--data-dir", data],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert new["AWS_ACCESS_KEY_ID"] in listed and new["AWS_SECRET_ACCESS_KEY"] not in listed
    subprocess.run([FIREBOX, "keys", "delete", "--data-dir", data, new["AWS_ACCESS_KEY_ID"]],
                   check=True, capture_output=True)  # fmt: skip
    refusals: list[tuple[int, str]] = []

    def revoked() -> bool:  # the server re-reads the file within a second (docs/security.md)
        try:
            lam.list_functions()
        except ClientError as exc:
            refusals.append(code(pytest.ExceptionInfo.from_exc_info((type(exc), exc, None))))
            return True
        return False

    wait_for(revoked, timeout=5)
    assert refusals == [(403, "UnrecognizedClientException")]
    missing = subprocess.run([FIREBOX, "keys", "delete", "--data-dir", data, "AKIANOPE"],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode != 0 and "no access key AKIANOPE" in missing.stderr

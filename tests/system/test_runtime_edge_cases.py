"""Regressions found in review: misbehaving runtimes and callers must never hang an invoke."""

from __future__ import annotations

import base64
import threading
from typing import Any

import boto3
import httpx

from support import FireboxServer, create_function, invoke_json, make_zip, unique, wait_for

# A custom runtime built on firebox's own Runtime API client, misbehaving on purpose.
RUNTIME_PRELUDE = """#!/usr/bin/env python3
import os, sys, time
sys.path.insert(0, os.environ["LAMBDA_RUNTIME_DIR"])
from firebox_runtime import RuntimeClient
address = os.environ["AWS_LAMBDA_RUNTIME_API"]
client = RuntimeClient(address)
_, headers, _ = client.next()
client.post_response(headers["lambda-runtime-aws-request-id"], b'"first"')
"""


def create_runtime(lam: Any, script: str, timeout: int) -> str:
    name = unique("rt")
    lam.create_function(
        FunctionName=name, Runtime="provided.al2023", Role="arn:aws:iam::000000000000:role/x",
        Handler="x", Timeout=timeout,
        Code={"ZipFile": make_zip({"bootstrap": RUNTIME_PRELUDE + script}, {"bootstrap": 0o755})},
    )  # fmt: skip
    return name


def test_runtime_slow_to_ask_for_the_next_event_times_out(lam: Any) -> None:
    name = create_runtime(lam, "time.sleep(60)\n", timeout=1)
    assert invoke_json(lam, name)[0] == "first"
    body, response = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]


def test_event_waits_for_a_runtime_that_reconnects(lam: Any, server: FireboxServer) -> None:
    """A /next parked on a connection the runtime closed must not swallow the next event."""
    script = """
abandoned = RuntimeClient(address)
request = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
abandoned._sock.sendall(request)
time.sleep(0.2)
abandoned._sock.close()
print("abandoned-next", flush=True)
time.sleep(3)
while True:
    _, headers, _ = client.next()
    client.post_response(headers["lambda-runtime-aws-request-id"], b'"second"')
"""
    name = create_runtime(lam, script, timeout=10)
    assert invoke_json(lam, name)[0] == "first"
    logs = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip

    def abandoned() -> bool:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return any("abandoned-next" in e["message"] for e in events)

    wait_for(abandoned)
    body, response = invoke_json(lam, name)
    assert "FunctionError" not in response, body
    assert body == "second"


def test_real_time_signal_death_is_reported_not_hung(lam: Any) -> None:
    code = "import os\ndef handler(event, context):\n    os.kill(os.getpid(), 40)\n"
    name = create_function(lam, code)
    body, response = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "signal: 40" in body["errorMessage"]
    body, _ = invoke_json(lam, name)  # the server still serves this function
    assert body["errorType"] == "Runtime.ExitError"


def test_last_words_before_a_crash_are_logged(lam: Any) -> None:
    code = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    sys.stdout.write('last words without newline'); sys.stdout.flush()\n"
        "    os._exit(1)\n"
    )
    name = create_function(lam, code)
    _, response = invoke_json(lam, name, LogType="Tail")
    assert "last words without newline" in base64.b64decode(response["LogResult"]).decode()


def test_client_context_cannot_inject_into_the_runtime_api(lam: Any) -> None:
    code = (
        "def handler(event, context):\n"
        "    return [event, context.client_context and context.client_context.custom]\n"
    )
    name = create_function(lam, code)
    hostile = '{\r\n\r\n"custom": {"k": "välue"}}'
    context = base64.b64encode(hostile.encode()).decode()
    body, response = invoke_json(lam, name, {"n": 1}, ClientContext=context)
    assert "FunctionError" not in response, body
    assert body == [{"n": 1}, {"k": "välue"}]
    assert invoke_json(lam, name, {"n": 2})[0][0] == {"n": 2}


def test_update_during_an_invocation_keeps_its_code(lam: Any, server: FireboxServer) -> None:
    v1 = (
        "import time\n"
        "def handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n"
        "    import helper\n"
        "    return helper.VERSION\n"
    )
    name = create_function(lam, {"app.py": v1, "helper.py": "VERSION = 1\n"})
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(invoke_json(lam, name, {"sleep": 2})))
    slow.start()
    wait_for(lambda: any(e["function_name"] == name and e["state"] == "busy"
                         for e in server.environments()))  # fmt: skip
    lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": v1, "helper.py": "VERSION = 2\n"})
    )
    slow.join()
    body, response = results[0]
    assert "FunctionError" not in response, body
    assert body == 1  # the in-flight invocation finished on the code it started with
    assert invoke_json(lam, name)[0] == 2


def test_invoke_request_id_is_the_invocation_id(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, "def handler(event, context):\n    return context.aws_request_id\n")
    body, response = invoke_json(lam, name)
    assert response["ResponseMetadata"]["RequestId"] == body
    event = lam.invoke(FunctionName=name, InvocationType="Event")
    assert event["ResponseMetadata"]["RequestId"]
    bad = httpx.post(f"{server.url}/2015-03-31/functions/{name}/invocations",
                     headers={"X-Amz-Log-Type": "Everything"})  # fmt: skip
    assert bad.status_code == 400
    assert bad.headers["x-amzn-ErrorType"] == "ValidationException"


def test_results_are_marshalled_like_aws(lam: Any) -> None:
    code = (
        "import decimal, logging\n"
        "logging.getLogger().setLevel(logging.INFO)\n"
        "def handler(event, context):\n"
        "    logging.info('via logging')\n"
        "    context.log('via context.log\\n')\n"
        "    if event.get('bytes'):\n"
        "        return b'{\"raw\": true}'\n"
        "    D = decimal.Decimal\n"
        "    return {'big': D('12345678901234567890.5'), 'exact': D('1.10')}\n"
    )
    name = create_function(lam, code)
    response = lam.invoke(FunctionName=name, LogType="Tail")
    assert response["Payload"].read() == b'{"big": 12345678901234567890.5, "exact": 1.10}'
    log = base64.b64decode(response["LogResult"]).decode()
    assert "via context.log" in log
    line = next(x for x in log.splitlines() if "via logging" in x)
    assert line.startswith("[INFO]\t") and line.endswith("\tvia logging")
    assert "\n\n" not in log  # records end with exactly one newline
    assert (
        lam.invoke(FunctionName=name, Payload=b'{"bytes": true}')["Payload"].read()
        == b'{"raw": true}'
    )

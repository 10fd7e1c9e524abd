"""Invoke through boto3: results, errors, timeouts, crashes, init failures, logs, concurrency."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support import (
    FireboxServer,
    create_function,
    invoke_json,
    make_zip,
    runtime_processes,
    wait_for,
)

ECHO = """
import os, uuid
ENV_ID = uuid.uuid4().hex
INITS = 0
INITS += 1

def handler(event, context):
    return {
        "event": event,
        "env_id": ENV_ID,
        "inits": INITS,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": context.client_context.custom if context.client_context else None,
        "environ": {k: v for k, v in os.environ.items()
                    if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "_X_AMZN", "TZ", "MY_"))},
    }
"""


def test_result_context_and_environment(lam: Any) -> None:
    name = create_function(lam, ECHO, MemorySize=256, Timeout=10,
                           Environment={"Variables": {"MY_VAR": "yes"}})  # fmt: skip
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    body, response = invoke_json(lam, name, {"a": 1}, ClientContext=client_context)
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert body["event"] == {"a": 1}
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert body["memory"] == "256"
    assert body["log_group"] == f"/aws/lambda/{name}"
    assert (
        body["log_stream"].endswith(body["log_stream"][-32:]) and "[$LATEST]" in body["log_stream"]
    )
    assert 9000 < body["remaining"] <= 10000
    assert body["client_context"] == {"k": "v"}
    environ = body["environ"]
    assert environ["MY_VAR"] == "yes"
    assert environ["_HANDLER"] == "app.handler"
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environ["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert environ["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environ["TZ"] == ":UTC"
    for key in ("AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "_X_AMZN_TRACE_ID", "AWS_LAMBDA_LOG_STREAM_NAME"):  # fmt: skip
        assert environ.get(key), key


def test_warm_reuse_runs_module_code_once(lam: Any) -> None:
    name = create_function(lam, ECHO)
    results = [invoke_json(lam, name, {"i": i}, LogType="Tail") for i in range(5)]
    bodies = [b for b, _ in results]
    assert len({b["env_id"] for b in bodies}) == 1
    assert all(b["inits"] == 1 for b in bodies)
    assert len({b["request_id"] for b in bodies}) == 5
    logs = [base64.b64decode(r["LogResult"]).decode() for _, r in results]
    assert "Init Duration:" in logs[0]
    assert all("Init Duration:" not in log for log in logs[1:])


def test_function_error_shape(lam: Any) -> None:
    code = "def handler(event, context):\n    raise ValueError('bad input: ' + str(event['x']))\n"
    name = create_function(lam, code)
    body, response = invoke_json(lam, name, {"x": 42}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad input: 42"
    assert body["requestId"]
    assert any('app.py", line 2, in handler' in frame for frame in body["stackTrace"])
    log = base64.b64decode(response["LogResult"]).decode()
    assert "[ERROR] ValueError: bad input: 42" in log
    # The environment survives a handled exception and serves again.
    again, _ = invoke_json(lam, name, {"x": 1})
    assert again["errorMessage"] == "bad input: 1"


def test_timeout_destroys_the_environment(lam: Any, server: FireboxServer) -> None:
    code = (
        "import time, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        "    if event.get('sleep'):\n"
        "        time.sleep(30)\n"
        "    return ENV\n"
    )
    name = create_function(lam, code, Timeout=1)
    first_env, _ = invoke_json(lam, name)
    assert runtime_processes(name)
    started = time.monotonic()
    body, response = invoke_json(lam, name, {"sleep": True}, LogType="Tail")
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(response["LogResult"]).decode()
    wait_for(lambda: not runtime_processes(name))  # the whole environment is gone
    second_env, response = invoke_json(lam, name)
    assert "FunctionError" not in response
    assert second_env != first_env


@pytest.mark.parametrize(
    ("crash", "expected"),
    [
        ("os._exit(3)", "Runtime exited with error: exit status 3"),
        (
            "import ctypes; ctypes.string_at(0)",
            "Runtime exited with error: signal: segmentation fault",
        ),
        ("os.kill(os.getpid(), 9)", "Runtime exited with error: signal: killed"),
    ],
)
def test_runtime_crash_is_exit_error_and_replaced(lam: Any, crash: str, expected: str) -> None:
    code = (
        "import os, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        f"    if event.get('crash'):\n        {crash}\n"
        "    return ENV\n"
    )
    name = create_function(lam, code)
    env, _ = invoke_json(lam, name)
    body, response = invoke_json(lam, name, {"crash": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert expected in body["errorMessage"]
    wait_for(lambda: not runtime_processes(name))  # nothing of the crashed environment is left
    new_env, response = invoke_json(lam, name)
    assert "FunctionError" not in response
    assert new_env != env


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"app.py": "import not_a_module\n"}, "app.handler", "Runtime.ImportModuleError",
         "Unable to import module 'app': No module named 'not_a_module'"),
        ({"other.py": "x = 1\n"}, "app.handler", "Runtime.ImportModuleError",
         "Unable to import module 'app'"),
        ({"app.py": "def handler(event, context)\n    return 1\n"}, "app.handler",
         "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
        ({"app.py": "def other(e, c):\n    return 1\n"}, "app.handler",
         "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
        ({"app.py": "x = 1\n"}, "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        ({"app.py": "raise RuntimeError('boom at import')\n"}, "app.handler", "RuntimeError",
         "boom at import"),
    ],
)  # fmt: skip
def test_init_errors(
    lam: Any, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    name = create_function(lam, files, Handler=handler)
    for _ in range(2):  # every invoke retries init, like Lambda, and fails the same way
        body, response = invoke_json(lam, name, LogType="Tail")
        assert response["FunctionError"] == "Unhandled"
        assert body["errorType"] == error_type
        assert message in body["errorMessage"]
        assert "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def test_nested_handler_module_path(lam: Any) -> None:
    files = {"pkg/__init__.py": "", "pkg/mod.py": "def go(e, c):\n    return 'nested'\n"}
    name = create_function(lam, files, Handler="pkg/mod.go")
    assert invoke_json(lam, name)[0] == "nested"
    name = create_function(lam, files, Handler="pkg.mod.go")
    assert invoke_json(lam, name)[0] == "nested"


def test_payload_limits_and_validation(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, "def handler(e, c):\n    return len(str(e))\n")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * 1100000 + b'"')
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    # No payload at all is an empty event, as with the AWS CLI.
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == 2


def test_large_and_unserialisable_responses(lam: Any) -> None:
    code = (
        "import datetime\n"
        "def handler(event, context):\n"
        "    if event.get('big'):\n"
        "        return 'x' * (7 * 1024 * 1024)\n"
        "    return datetime.datetime.now()\n"
    )
    name = create_function(lam, code)
    body, response = invoke_json(lam, name, {"big": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    body, response = invoke_json(lam, name)
    assert body["errorType"] == "Runtime.MarshalError"
    assert "not JSON serializable" in body["errorMessage"]


def test_dry_run_and_event_invocations(lam: Any, server: FireboxServer) -> None:
    name = create_function(
        lam, "def handler(event, context):\n    print('event-marker', event['marker'])\n"
    )
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"marker": "m-42"}')
    assert response["StatusCode"] == 202
    logs = server.client  # noqa: F841 - the logs API is read below with a plain logs client
    import boto3

    cw = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip

    def marker_logged() -> bool:
        events = cw.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return any("event-marker m-42" in e["message"] for e in events)

    wait_for(marker_logged)


def test_tail_log_is_last_4kb_of_the_invocation(lam: Any) -> None:
    code = (
        "def handler(event, context):\n"
        "    for i in range(event['n']):\n"
        "        print(f'line {i:05d}')\n"
        "    return 'ok'\n"
    )
    name = create_function(lam, code)
    _, response = invoke_json(lam, name, {"n": 3}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: ") and lines[0].endswith("Version: $LATEST")
    assert lines[1:4] == ["line 00000", "line 00001", "line 00002"]
    assert lines[4].startswith("END RequestId: ")
    report = lines[5]
    for field in ("REPORT RequestId: ", "Duration: ", "Billed Duration: ", "Memory Size: 128 MB",
                  "Max Memory Used: ", "Init Duration: "):  # fmt: skip
        assert field in report
    _, response = invoke_json(lam, name, {"n": 2000}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) == 4096
    assert b"line 01999" in tail and b"REPORT RequestId" in tail
    assert "LogResult" not in lam.invoke(FunctionName=name, Payload=b'{"n": 1}')


def test_max_memory_used_counts_the_runtime_and_what_the_handler_holds(lam: Any) -> None:
    """REPORT's figure is one to size MemorySize by, as on AWS (~35 MB for a Python hello
    world there): the interpreter and runtime count even where they are shared with the zygote
    the environment was forked from, and what the handler holds adds to them."""
    code = (
        "HELD = []\n"
        "def handler(event, context):\n"
        "    HELD.append(bytearray(event['mb'] << 20))\n"
        "    return len(HELD)\n"
    )
    name = create_function(lam, code, MemorySize=512)

    def used(mb: int) -> int:
        _, response = invoke_json(lam, name, {"mb": mb}, LogType="Tail")
        log = base64.b64decode(response["LogResult"]).decode()
        return int(re.search(r"Max Memory Used: (\d+) MB", log)[1])  # type: ignore[index]

    baseline = used(0)
    assert baseline >= 12  # a Python interpreter with its runtime loaded; was 2 MB
    assert 64 <= used(64) - baseline <= 72
    assert 128 <= used(64) - baseline <= 136  # both still held


def test_parallel_invokes_get_separate_environments(lam: Any) -> None:
    code = (
        "import os, time, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        "    time.sleep(1.5)\n"
        "    return ENV\n"
    )
    name = create_function(lam, code)
    n = 6
    results: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(invoke_json(lam, name)[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert not errors
    assert len(set(results)) == n  # N overlapping invokes → N environments
    # Serialised, they would take n × 1.5 s = 9 s; in parallel about one handler's time.
    assert elapsed < n * 1.5 / 2


def test_update_code_retires_old_environments(lam: Any, server: FireboxServer) -> None:
    code = "import uuid\nENV = uuid.uuid4().hex\ndef handler(e, c):\n    return ['v1', ENV]\n"
    name = create_function(lam, code)
    (version, old_env), _ = invoke_json(lam, name)
    assert version == "v1"
    assert any(e["function_name"] == name for e in server.environments())
    lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": code.replace("v1", "v2")})
    )
    (version, new_env), _ = invoke_json(lam, name)
    assert version == "v2" and new_env != old_env
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"AB": "1"}})
    (_, newest_env), _ = invoke_json(lam, name)
    assert newest_env != new_env
    wait_for(lambda: len([e for e in server.environments() if e["function_name"] == name]) == 1)


def test_code_location_of_unknown_package_is_404(server: FireboxServer) -> None:
    assert httpx.get(f"{server.url}/_firebox/code/{'0' * 64}.zip").status_code == 404
    assert httpx.get(f"{server.url}/_firebox/code/..%2F..%2Fetc%2Fpasswd.zip").status_code == 404

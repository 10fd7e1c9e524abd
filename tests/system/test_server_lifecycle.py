"""Dedicated servers: restart persistence, crashes of the server, keep-alive, limits, hung init."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, invoke_json, runtime_processes, wait_for

PID = "import uuid\nENV = uuid.uuid4().hex\ndef handler(event, context):\n    return ENV\n"
SLOW = (
    "import os, time\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return 'ok'\n"
)


def test_functions_and_logs_survive_a_restart(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    lam = server.client()
    code = "def handler(event, context):\n    print('persisted-log-line')\n    return event\n"
    name = create_function(lam, code, Description="keep me", Timeout=8)
    invoke_json(lam, name, {"before": True})
    config = lam.get_function_configuration(FunctionName=name)
    server.stop()

    restarted = start_server(data_dir=server.data_dir)
    lam = restarted.client()
    again = lam.get_function_configuration(FunctionName=name)
    assert {k: v for k, v in again.items() if k != "ResponseMetadata"} == {
        k: v for k, v in config.items() if k != "ResponseMetadata"
    }
    assert invoke_json(lam, name, {"after": True})[0] == {"after": True}
    logs = boto3.client("logs", endpoint_url=restarted.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip

    def both_logged() -> bool:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return sum("persisted-log-line" in e["message"] for e in events) == 2

    wait_for(both_logged)


def test_kill_9_of_the_server_leaves_no_runtime_behind(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    lam = server.client()
    names = [create_function(lam, PID), create_function(lam, PID)]
    for name in names:
        invoke_json(lam, name)
    assert all(runtime_processes(name) for name in names)
    server.kill()
    wait_for(lambda: not any(runtime_processes(name) for name in names))


def test_graceful_stop_stops_environments(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    name = create_function(server.client(), PID)
    invoke_json(server.client(), name)
    assert runtime_processes(name)
    server.stop()
    wait_for(lambda: not runtime_processes(name))


def test_idle_environments_expire_after_keep_alive(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--keep-alive", "1s")
    lam = server.client()
    name = create_function(lam, PID)
    env = invoke_json(lam, name)[0]
    assert [e["function_name"] for e in server.environments()] == [name]
    wait_for(lambda: server.environments() == [])
    wait_for(lambda: not runtime_processes(name))
    assert invoke_json(lam, name)[0] != env  # a fresh environment serves the next invoke


def test_concurrency_limit_throttles_with_aws_shape(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--concurrency", "1")
    lam = server.client()
    name = create_function(lam, SLOW, Timeout=30)
    invoke_json(lam, name)  # warm
    holder = threading.Thread(target=invoke_json, args=(lam, name, {"sleep": 3}))
    holder.start()
    wait_for(lambda: any(e["state"] == "busy" for e in server.environments()))
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=json.dumps({}).encode())
    error = exc.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ConcurrentInvocationLimitExceeded"
    # An Event invoke is accepted anyway and runs once capacity frees up.
    accepted = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"sleep": 0}')
    assert accepted["StatusCode"] == 202
    holder.join()
    wait_for(lambda: _invocation_count(server, name) >= 3)


def _invocation_count(server: FireboxServer, name: str) -> int:
    return sum(e["invocations"] for e in server.environments() if e["function_name"] == name)


def test_hung_init_is_bounded(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--init-timeout", "1s")
    lam = server.client()
    code = "import time\ntime.sleep(60)\ndef handler(event, context):\n    return 1\n"
    name = create_function(lam, code)
    body, response = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InitTimeout"
    assert "Init timed out after 1.00 seconds" in body["errorMessage"]
    wait_for(lambda: server.environments() == [])


def test_runtime_mapping_and_its_removal(start_server: Callable[..., FireboxServer]) -> None:
    """Operators map runtimes to interpreters; a function whose runtime went away fails clearly."""
    import os
    import sys

    interpreter = os.path.realpath(sys.executable)
    server = start_server("--runtime", f"python3.99={interpreter}")
    lam = server.client()
    name = create_function(lam, PID, Runtime="python3.99")
    assert isinstance(invoke_json(lam, name)[0], str)
    server.stop()
    restarted = start_server(data_dir=server.data_dir)  # without the mapping
    with pytest.raises(ClientError) as exc:
        restarted.client().invoke(FunctionName=name)
    assert exc.value.response["Error"]["Code"] == "InvalidRuntimeException"
    assert "python3.99" in exc.value.response["Error"]["Message"]
    assert "python3.11" in exc.value.response["Error"]["Message"]  # names what is available


@pytest.mark.without_root
def test_process_mode_degrades_loudly(start_server: Callable[..., FireboxServer]) -> None:
    """Without isolation functions still run, and the server says so everywhere."""
    import httpx

    server = start_server("--sandbox", "process", "--log-level", "info")
    health = httpx.get(f"{server.url}/_firebox/health").json()
    assert health["sandbox"] == "process"
    assert not any(p["active"] for p in health["protections"] if p["name"] == "namespaces")
    assert "ISOLATION IS OFF" in server.log_path.read_text()
    lam = server.client()
    assert isinstance(invoke_json(lam, create_function(lam, PID))[0], str)


@pytest.mark.without_root
def test_doctor_reports_protections(tmp_path: Path) -> None:
    import os
    import subprocess

    from support import FIREBOX, free_port

    result = subprocess.run(
        [FIREBOX, "doctor", "--data-dir", str(tmp_path), "--endpoint", f"http://127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if os.geteuid() == 0:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "sandbox on this host: isolated" in result.stdout
        for name in ("namespaces", "seccomp", "cgroups", "network", "capabilities"):
            assert f"✓ {name}" in result.stdout
    else:
        assert result.returncode == 1
        assert "✗ namespaces" in result.stdout
    assert "no firebox server answering" in result.stdout


def test_doctor_with_its_default_data_dir(tmp_path: Path) -> None:
    """Run as a user would (no --data-dir), from a directory with no .firebox in it: the same
    verdict as with an absolute data dir, and no stray data dir left behind."""
    import os
    import subprocess

    from support import FIREBOX, free_port

    for existing in (False, True):
        if existing:
            (tmp_path / ".firebox").mkdir()  # a data dir a server made, given relative
        result = subprocess.run(
            [FIREBOX, "doctor", "--endpoint", f"http://127.0.0.1:{free_port()}"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
        if os.geteuid() == 0:
            assert result.returncode == 0, result.stdout + result.stderr
            assert "✗" not in result.stdout, result.stdout
        assert os.listdir(tmp_path) == ([".firebox"] if existing else [])


def test_relative_data_dir_works(tmp_path: Path) -> None:
    """`make run` uses --data-dir .firebox: sandboxes must still find the code."""
    import os
    import subprocess

    from support import FIREBOX, lambda_client

    server = FireboxServer(tmp_path / "unused")
    server.proc = subprocess.Popen(
        [FIREBOX, "serve", "--port", str(server.port), "--data-dir", "rel-data",
         "--log-level", "warning"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for(server._healthy, timeout=30)
        lam = lambda_client(server.url)
        assert isinstance(invoke_json(lam, create_function(lam, PID))[0], str)
        assert os.path.isdir(tmp_path / "rel-data" / "code")
    finally:
        server.stop()


def test_doctor_leaves_a_running_server_alone(start_server: Callable[..., FireboxServer]) -> None:
    """Diagnosing a live server's data dir must not touch its environments."""
    import subprocess

    from support import FIREBOX

    server = start_server()
    lam = server.client()
    name = create_function(lam, PID)
    env = invoke_json(lam, name)[0]
    subprocess.run([FIREBOX, "doctor", "--data-dir", str(server.data_dir), "--endpoint",
                    server.url], capture_output=True, timeout=60)  # fmt: skip
    assert invoke_json(lam, name)[0] == env  # the same warm environment, still alive

"""The `firebox` command line against a real server: output, exit codes, one-line errors."""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from support import FIREBOX, FireboxServer, create_function, free_port, invoke_json, unique

ECHO = "def handler(event, context):\n    print('cli-log', event)\n    return event\n"
FAIL = "def handler(event, context):\n    raise ValueError('cli boom')\n"


def run(
    server: FireboxServer | None, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FIREBOX_ENDPOINT": server.url if server else f"http://127.0.0.1:{free_port()}",
    }
    return subprocess.run(
        [FIREBOX, *args], env=env, capture_output=True, text=True, timeout=60,
        input=stdin.decode() if stdin else None,
    )  # fmt: skip


def test_ls_lists_functions(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, ECHO, MemorySize=192)
    result = run(server, "ls")
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split() == ["NAME", "RUNTIME", "HANDLER", "MEMORY",
                                                     "TIMEOUT", "LAST", "MODIFIED"]  # fmt: skip
    row = next(line for line in result.stdout.splitlines() if line.startswith(name + " "))
    assert "python3.11" in row and "192 MB" in row


def test_invoke_prints_result_and_reads_payload_files(
    lam: Any, server: FireboxServer, tmp_path: Path
) -> None:
    name = create_function(lam, ECHO)
    result = run(server, "invoke", name, "--payload", '{"k": 1}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"k": 1}'
    payload = tmp_path / "event.json"
    payload.write_text('{"from": "file"}')
    assert run(server, "invoke", name, "-p", f"@{payload}").stdout.strip() == '{"from": "file"}'
    assert run(server, "invoke", name, "-p", "@-", stdin=b'{"from": "stdin"}').stdout.strip() == (
        '{"from": "stdin"}'
    )
    logged = run(server, "invoke", name, "--log", "-p", "{}")
    assert "START RequestId" in logged.stderr and "REPORT RequestId" in logged.stderr


def test_invoke_function_error_exits_non_zero(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, FAIL)
    result = run(server, "invoke", name)
    assert result.returncode == 1
    assert "ValueError: cli boom" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_errors_are_one_line(server: FireboxServer) -> None:
    result = run(server, "invoke", unique("missing"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "ResourceNotFoundException" in result.stderr
    bad = run(server, "invoke", unique("missing"), "-p", "{not json")
    assert bad.returncode == 1 and "InvalidRequestContentException" in bad.stderr


@pytest.mark.without_root
def test_server_not_running_is_a_one_line_error() -> None:
    for args in (("ls",), ("invoke", "x"), ("logs", "x")):
        result = run(None, *args)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert "cannot reach firebox" in result.stderr
        assert "Traceback" not in result.stderr


def test_logs_prints_and_follows(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, ECHO)
    run(server, "invoke", name, "-p", '{"n": "first"}')
    deadline = time.monotonic() + 15
    while "cli-log {'n': 'first'}" not in (out := run(server, "logs", name).stdout):
        assert time.monotonic() < deadline, out
    assert "START RequestId" in out and "REPORT RequestId" in out
    assert run(server, "logs", name, "--filter", "first").stdout.count("cli-log") == 1
    assert run(server, "logs", name, "--since", "banana").returncode == 2

    env = {**os.environ, "FIREBOX_ENDPOINT": server.url}
    follower = subprocess.Popen([FIREBOX, "logs", name, "--follow", "--since", "1s"], env=env,
                                stdout=subprocess.PIPE, bufsize=0)  # fmt: skip
    try:
        run(server, "invoke", name, "-p", '{"n": "second"}')
        assert follower.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(follower.stdout, selectors.EVENT_READ)
        seen = ""
        deadline = time.monotonic() + 15
        while "cli-log {'n': 'second'}" not in seen:
            assert time.monotonic() < deadline, seen
            if selector.select(timeout=0.5):
                seen += os.read(follower.stdout.fileno(), 65536).decode()
    finally:
        follower.kill()
        follower.wait()


LONG = (
    "import time\n"
    "def handler(event, context):\n"
    "    print('long-begin', flush=True)\n"
    "    time.sleep(event['sleep'])\n"
    "    print('long-end')\n"
    "    return 'done'\n"
)
SHORT = "def handler(event, context):\n    print('short-ran')\n    return 'done'\n"


def _read_until(stream: Any, text: str, seen: str = "", timeout: float = 15) -> str:
    """Reads a pipe until `text` has appeared in it; returns all read."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, seen
        if selector.select(timeout=0.5):
            seen += os.read(stream.fileno(), 65536).decode()
    return seen


def test_logs_interleave_invocations_by_time(lam: Any, server: FireboxServer) -> None:
    """One invocation that runs while another starts and ends: its lines go around the other's,
    in time order, not grouped by environment or by the moment an invocation ended."""
    name = create_function(lam, LONG + SHORT.replace("def handler", "def short"), Timeout=60)
    env = {**os.environ, "FIREBOX_ENDPOINT": server.url}
    follower = subprocess.Popen([FIREBOX, "logs", name, "--follow", "--since", "1m"], env=env,
                                stdout=subprocess.PIPE, bufsize=0)  # fmt: skip
    try:
        long_call = threading.Thread(target=invoke_json, args=(lam, name, {"sleep": 4}))
        long_call.start()
        assert follower.stdout is not None
        # Followed, a running invocation's lines show as they are printed, not at its end.
        seen = _read_until(follower.stdout, "long-begin")
        assert long_call.is_alive() and "long-end" not in seen
        lam.update_function_configuration(FunctionName=name, Handler="app.short")
        invoke_json(lam, name)  # a second environment, while the first one still runs
        long_call.join()
        _read_until(follower.stdout, "long-end", seen)
    finally:
        follower.kill()
        follower.wait()
    lines = run(server, "logs", name, "--since", "1m").stdout.splitlines()
    order = [next((w for w in ("long-begin", "short-ran", "long-end") if w in line), "")
             for line in lines]  # fmt: skip
    assert [w for w in order if w] == ["long-begin", "short-ran", "long-end"]
    stamps = [line.split(" ", 1)[0] for line in lines]
    assert stamps == sorted(stamps)
    reports = [i for i, line in enumerate(lines) if "REPORT RequestId" in line]
    assert len(reports) == 2 and order.index("short-ran") < reports[0] < order.index("long-end")


@pytest.mark.without_root
def test_serve_rejects_bad_runtime_mapping(tmp_path: Path) -> None:
    result = subprocess.run(
        [FIREBOX, "serve", "--data-dir", str(tmp_path), "--port", str(free_port()),
         "--runtime", "python3.12"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode != 0
    assert "NAME=INTERPRETER" in result.stderr

"""Stopping the server: invokes in flight may finish, then end with a Lambda-style error; a stop
exits 0 and logs one line per step, never a traceback.

Each test waits on states (an environment busy, a line in the server's log), never on a clock;
the functions sleep far longer than any test takes, so they are still running when signalled.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from typing import Any

import httpx

from support import FireboxServer, create_function, invoke_json, wait_for

SLEEPY = (
    "import time\n"
    "def handler(event, context):\n"
    "    print('attempt', event.get('tag'), flush=True)\n"
    "    time.sleep(event['sleep'])\n"
    "    return 'finished'\n"
)


def _invoke_in_background(lam: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Starts a synchronous invoke on a thread; the dict gets its body and response."""
    outcome: dict[str, Any] = {}

    def call() -> None:
        outcome["body"], outcome["response"] = invoke_json(lam, name, event)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _busy(server: FireboxServer) -> bool:
    return any(e["state"] == "busy" for e in server.environments())


def _logged(server: FireboxServer, text: str) -> bool:
    return text in server.log_path.read_text()


def _signalled_while_busy(
    start_server: Callable[..., FireboxServer], shutdown_timeout: str, sleep: float, sig: int
) -> tuple[FireboxServer, dict[str, Any]]:
    """A server signalled while one invoke (sleeping `sleep` seconds) is running in it."""
    server = start_server("--shutdown-timeout", shutdown_timeout)
    lam = server.client()
    name = create_function(lam, SLEEPY, Timeout=300)
    call = _invoke_in_background(lam, name, {"sleep": sleep})
    wait_for(lambda: _busy(server))
    assert server.proc is not None
    server.proc.send_signal(sig)
    return server, call


def _exit_code(server: FireboxServer) -> int:
    assert server.proc is not None
    return server.proc.wait(timeout=30)


def test_first_signal_lets_invokes_in_flight_finish(
    start_server: Callable[..., FireboxServer],
) -> None:
    server, call = _signalled_while_busy(start_server, "5m", 3, signal.SIGINT)
    wait_for(lambda: _logged(server, "1 invoke in flight may take up to 300s to finish"))
    call["thread"].join(timeout=30)
    assert call["body"] == "finished"
    assert "FunctionError" not in call["response"]
    assert _exit_code(server) == 0
    assert "Traceback" not in server.log_path.read_text()


def test_second_signal_ends_invokes_with_a_lambda_error(
    start_server: Callable[..., FireboxServer],
) -> None:
    """The waiting caller gets what it gets when an environment dies; a queued Event invoke
    that was running goes back to the queue unspent and runs after the next start."""
    server = start_server("--shutdown-timeout", "5m")
    lam = server.client()
    name = create_function(lam, SLEEPY, Timeout=300)
    later = create_function(lam, SLEEPY, Timeout=300)
    lam.invoke(FunctionName=later, InvocationType="Event",
               Payload=json.dumps({"sleep": 600, "tag": "queued"}).encode())  # fmt: skip
    call = _invoke_in_background(lam, name, {"sleep": 600})
    wait_for(lambda: sum(e["state"] == "busy" for e in server.environments()) == 2)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGINT)
    wait_for(lambda: _logged(server, "2 invokes in flight"))
    server.proc.send_signal(signal.SIGINT)
    call["thread"].join(timeout=30)
    assert call["response"]["FunctionError"] == "Unhandled"
    assert call["body"]["errorType"] == "Runtime.ExitError"
    assert call["body"]["errorMessage"].endswith(
        "Error: Runtime exited with error: signal: killed (firebox is stopping)"
    )
    assert _exit_code(server) == 0
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Internal Server Error" not in log
    assert log.count("firebox: stopping now (SIGINT): ended 2 invokes in flight") == 1

    restarted = FireboxServer(server.data_dir).start()
    try:
        logs = restarted.url

        def attempts() -> int:
            found = httpx.post(logs, headers={"X-Amz-Target": "Logs_20140328.FilterLogEvents",
                                              "Content-Type": "application/x-amz-json-1.1"},
                               json={"logGroupName": f"/aws/lambda/{later}"}).json()  # fmt: skip
            return sum("attempt queued" in e["message"] for e in found["events"])

        wait_for(lambda: attempts() == 2)  # the same event, run again
        queue = httpx.get(f"{restarted.url}/_firebox/queue").json()["Functions"][later]
        assert queue["retrying"] == 0 and queue["in_flight"] == 1  # no attempt spent by the stop
    finally:
        restarted.stop()


def test_shutdown_timeout_bounds_the_wait(start_server: Callable[..., FireboxServer]) -> None:
    server, call = _signalled_while_busy(start_server, "1s", 600, signal.SIGTERM)
    call["thread"].join(timeout=30)
    assert call["body"]["errorType"] == "Runtime.ExitError"
    assert _exit_code(server) == 0
    assert _logged(server, "stopping now (--shutdown-timeout of 1s over): ended 1 invoke")


def test_a_clean_stop_exits_0(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    invoke_json(server.client(), create_function(server.client(), SLEEPY), {"sleep": 0})
    assert server.proc is not None
    server.proc.send_signal(signal.SIGINT)
    assert _exit_code(server) == 0
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Aborted" not in log

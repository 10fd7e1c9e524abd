"""The adaptive keep-alive policy in a real server: a periodic function unloaded and pre-warmed."""

from __future__ import annotations

import time
from collections.abc import Callable

from support import FireboxServer, create_function, invoke_json


def test_server_unloads_and_prewarms_a_periodic_function(
    start_server: Callable[..., FireboxServer],
) -> None:
    """Adaptive policy with 0.1 s bins: a function called every second is unloaded after each
    call and a fresh environment is initialised shortly before the next one."""
    server = start_server("--keep-alive-policy", "adaptive", "--keep-alive-bin", "0.1s")
    lam = server.client()
    name = create_function(lam, "def handler(event, context):\n    return 1\n")

    def idle() -> list[str]:
        return [e["id"] for e in server.environments()
                if e["function_name"] == name and e["state"] == "idle"]  # fmt: skip

    start = time.monotonic()
    unloaded = prewarmed_then_used = 0
    for i in range(16):  # a timer-driven trace: one call a second
        time.sleep(max(0.0, start + i - time.monotonic()))
        ready_before = idle()
        _, response = invoke_json(lam, name)
        assert "FunctionError" not in response
        used = [e["id"] for e in server.environments() if e["function_name"] == name]
        if i >= 12:  # the histogram has its 10+ samples by now
            unloaded += not used  # nothing kept idle after the call
            prewarmed_then_used += bool(ready_before)
    assert unloaded >= 3
    assert prewarmed_then_used >= 3  # an environment was waiting when the call came

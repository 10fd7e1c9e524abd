"""Reserved concurrency, the account limit, and async events under throttling."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from support import FireboxServer, create_function, invoke_json, wait_for

SLOW = (
    "import time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return 1\n"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    """A server with an account limit of 10 (so at least 1 must stay unreserved)."""
    server = FireboxServer(tmp_path_factory.mktemp("conc") / "data", "--concurrency", "10",
                           "--async-retry-delay", "0.05")  # fmt: skip
    server.start()
    yield server
    server.stop()


def busy(server: FireboxServer, name: str) -> int:
    return sum(1 for e in server.environments()
               if e["function_name"] == name and e["state"] == "busy")  # fmt: skip


def hold(lam: Any, name: str, count: int, seconds: float) -> list[threading.Thread]:
    threads = [threading.Thread(target=invoke_json, args=(lam, name, {"s": seconds}))
               for _ in range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    return threads


def throttle_reason(lam: Any, name: str) -> dict[str, Any]:
    with pytest.raises(lam.exceptions.TooManyRequestsException) as exc_info:
        invoke_json(lam, name)
    response: dict[str, Any] = exc_info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    return response


def test_reserved_concurrency_caps_a_function(small: FireboxServer) -> None:
    lam = small.client()
    name = create_function(lam, SLOW, Timeout=30)
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    assert put["ReservedConcurrentExecutions"] == 2
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 10
    assert settings["UnreservedConcurrentExecutions"] == 8
    threads = hold(lam, name, 2, 2.0)
    wait_for(lambda: busy(small, name) == 2)
    response = throttle_reason(lam, name)
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["Error"]["Message"] == "Rate Exceeded."
    for thread in threads:
        thread.join()
    assert invoke_json(lam, name)[0] == 1  # capacity is back
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 10


def test_reservations_shrink_what_others_share(small: FireboxServer) -> None:
    lam = small.client()
    reserved = create_function(lam, SLOW)
    lam.put_function_concurrency(FunctionName=reserved, ReservedConcurrentExecutions=7)
    other = create_function(lam, SLOW, Timeout=30)
    threads = hold(lam, other, 3, 2.0)  # 10 - 7 = 3 unreserved
    wait_for(lambda: busy(small, other) == 3)
    response = throttle_reason(lam, other)
    assert response["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert invoke_json(lam, reserved)[0] == 1  # its reservation is its own
    for thread in threads:
        thread.join()
    # Reserving more than leaves the minimum (10 % of the limit) unreserved is refused.
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=other, ReservedConcurrentExecutions=3)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=other)
    lam.delete_function(FunctionName=reserved)  # its reservation goes with it
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 10


def test_reserved_zero_disables_invocation(small: FireboxServer) -> None:
    lam = small.client()
    name = create_function(lam, SLOW)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert (
        throttle_reason(lam, name)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    )
    unchecked = small.client(parameter_validation=False)
    with pytest.raises(lam.exceptions.ClientError) as refused:  # outside the model: min 0
        unchecked.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=-1)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    lam.delete_function_concurrency(FunctionName=name)
    assert invoke_json(lam, name)[0] == 1


def test_async_events_wait_for_capacity_and_drain(small: FireboxServer) -> None:
    lam = small.client()
    name = create_function(lam, SLOW, Timeout=30)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    for _ in range(5):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"s": 0.2}')

    def drained() -> Any:
        row = httpx.get(f"{small.url}/_firebox/queue").json()["Functions"].get(name, {})
        return row if row.get("succeeded") == 5 else None

    row = wait_for(drained, timeout=60)  # one at a time: throttled events waited their turn
    assert row.get("failed", 0) == 0 and row.get("expired", 0) == 0


PROBE = (
    "import os, time, uuid\n"
    "ENV = uuid.uuid4().hex\n"
    "INITS = [1]\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('s', 0))\n"
    "    return {'env': ENV, 'inits': len(INITS),\n"
    "            'type': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n"
)


def provisioned_envs(server: FireboxServer, name: str) -> list[dict[str, Any]]:
    return [e for e in server.environments()
            if e["function_name"] == name and e["version"] == "1" and e["provisioned"]]  # fmt: skip


def test_provisioned_environments_are_ready_before_the_first_invoke(
    start_server: Callable[..., FireboxServer],
) -> None:
    import base64
    import os
    import signal

    server = start_server()
    lam = server.client()
    name = create_function(lam, PROBE, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):  # $LATEST cannot
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)  # fmt: skip
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                                 ProvisionedConcurrentExecutions=2)  # fmt: skip
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")

    def ready() -> Any:
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        return config if config["Status"] == "READY" else None

    config = wait_for(ready)
    assert config["AvailableProvisionedConcurrentExecutions"] == 2
    assert len(provisioned_envs(server, name)) == 2  # initialised before any invoke
    seen = set()
    for _ in range(4):
        response = lam.invoke(FunctionName=name, Qualifier="1", LogType="Tail")
        body = json.loads(response["Payload"].read())
        assert body["type"] == "provisioned-concurrency" and body["inits"] == 1
        assert "Init Duration" not in base64.b64decode(response["LogResult"]).decode()
        seen.add(body["env"])
    everything = [e for e in server.environments() if e["function_name"] == name]
    assert len(everything) == 2  # no on-demand environment was needed
    # Three at once with two provisioned: the third spills over to an on-demand environment.
    results: list[str] = []

    def call() -> None:
        results.append(invoke_json(lam, name, {"s": 1.0}, Qualifier="1")[0]["type"])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["on-demand", "provisioned-concurrency", "provisioned-concurrency"]
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        f"arn:aws:lambda:us-east-1:000000000000:function:{name}:1"]  # fmt: skip
    # Killed, an environment is replaced: the count stays.
    victim = next(e["pid"] for e in provisioned_envs(server, name) if e["provisioned"])
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in [e["pid"] for e in provisioned_envs(server, name)]
             and len(provisioned_envs(server, name)) == 2 and ready())  # fmt: skip
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    wait_for(lambda: not provisioned_envs(server, name))
    # Spill-over: without provisioned environments invokes run on demand, with an init.
    body, response = invoke_json(lam, name, Qualifier="1")
    assert body["type"] == "on-demand"


def test_provisioned_concurrency_stays_within_capacity(small: FireboxServer) -> None:
    lam = small.client()
    name = create_function(lam, PROBE, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):  # more than the limit
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                               ProvisionedConcurrentExecutions=11)  # fmt: skip
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1",
                                           ProvisionedConcurrentExecutions=2)  # fmt: skip
    with pytest.raises(lam.exceptions.ResourceConflictException):  # alias → the same version
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                               ProvisionedConcurrentExecutions=1)  # fmt: skip
    with pytest.raises(lam.exceptions.InvalidParameterValueException):  # below provisioned
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    lam.delete_function(FunctionName=name)

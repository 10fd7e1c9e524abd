"""Event invocations: durable queue, retries, maximum age, destinations, DLQ, crash safety.

Retry delays are shortened with `--async-retry-delay`; nothing sleeps to wait, every check
polls with a deadline. Destination and dead-letter functions print what they receive, and
the tests read it back through the CloudWatch Logs API.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, wait_for
from test_cli import run

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
RECORDER = (
    "import json\n"
    "def handler(event, context):\n"
    "    print('RECEIVED ' + json.dumps(event))\n"
    "    return {}\n"
)
OK = (
    "def handler(event, context):\n    print('ran', context.aws_request_id)\n    return {'ok': 1}\n"
)
FAIL = (
    "def handler(event, context):\n"
    "    print('ran', context.aws_request_id)\n"
    "    raise ValueError('always fails')\n"
)


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    """A server whose failed Event invokes are retried after 50 ms, 100 ms (not 1, 2 min)."""
    server = FireboxServer(tmp_path_factory.mktemp("async") / "data",
                           "--async-retry-delay", "0.05")  # fmt: skip
    server.start()
    yield server
    server.stop()


def logs_client(server: FireboxServer) -> Any:
    return boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip


def received(server: FireboxServer, name: str) -> list[Any]:
    """What a recorder function has received so far, in order."""
    events = logs_client(server).filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern="RECEIVED"
    )["events"]
    return [json.loads(e["message"].split("RECEIVED ", 1)[1]) for e in events]


def runs(server: FireboxServer, name: str, request_id: str) -> int:
    """How many times a function ran a given event (it prints its request id)."""
    events = logs_client(server).filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern=f'"ran {request_id}"'
    )["events"]
    return len(events)


def event_invoke(lam: Any, name: str, payload: Any, **kwargs: Any) -> str:
    response = lam.invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps(payload).encode(), **kwargs)  # fmt: skip
    assert response["StatusCode"] == 202
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])


def test_success_destination_gets_the_invocation_record(fast: FireboxServer) -> None:
    lam = fast.client()
    recorder = create_function(lam, RECORDER)
    name = create_function(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": ARN + recorder}}
    )
    request_id = event_invoke(lam, name, {"order": 7})
    (record,) = wait_for(lambda: received(fast, recorder))
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": f"{ARN}{name}:$LATEST",
        "condition": "Success", "approximateInvokeCount": 1,
    }  # fmt: skip
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": 1}


def test_failure_after_retries_goes_to_the_failure_destination(fast: FireboxServer) -> None:
    lam = fast.client()
    recorder = create_function(lam, RECORDER)
    name = create_function(lam, FAIL)
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": ARN + recorder}}
    )
    request_id = event_invoke(lam, name, {"job": "x"})
    (record,) = wait_for(lambda: received(fast, recorder))
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted" and context["requestId"] == request_id
    assert context["approximateInvokeCount"] == 3  # the first attempt and two retries
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["requestPayload"] == {"job": "x"}
    assert wait_for(lambda: runs(fast, name, request_id) == 3)


def test_zero_retries_and_dead_letter_target(fast: FireboxServer) -> None:
    lam = fast.client()
    recorder, dlq = create_function(lam, RECORDER), create_function(lam, RECORDER)
    name = create_function(lam, FAIL, DeadLetterConfig={"TargetArn": ARN + dlq})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": ARN + dlq}  # fmt: skip
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": ARN + recorder}},
    )  # fmt: skip
    request_id = event_invoke(lam, name, {"job": "y"})
    (record,) = wait_for(lambda: received(fast, recorder))
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert wait_for(lambda: received(fast, dlq)) == [{"job": "y"}]  # the original event
    assert runs(fast, name, request_id) == 1


def test_event_that_would_outlive_its_maximum_age_is_dropped(
    start_server: Callable[..., FireboxServer],
) -> None:
    """Retries 2 minutes apart cannot fit in a 60-second maximum age: dropped at once."""
    server = start_server("--async-retry-delay", "120s")
    lam = server.client()
    recorder = create_function(lam, RECORDER)
    name = create_function(lam, FAIL)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": ARN + recorder}},
    )  # fmt: skip
    event_invoke(lam, name, {})
    (record,) = wait_for(lambda: received(server, recorder))
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    stats = httpx.get(f"{server.url}/_firebox/queue").json()["Functions"][name]
    assert stats["expired"] == 1 and stats["waiting"] == 0


def test_throttled_events_wait_without_using_attempts(
    start_server: Callable[..., FireboxServer],
) -> None:
    """With the only slot busy, an Event invoke is throttled, waits, and then runs once."""
    server = start_server("--concurrency", "1", "--async-retry-delay", "0.05")
    lam = server.client()
    recorder = create_function(lam, RECORDER)
    slow = create_function(lam, "import time\ndef handler(e, c):\n    time.sleep(1.5)\n")
    name = create_function(lam, OK)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": ARN + recorder}},
    )  # fmt: skip
    holder = threading.Thread(target=lambda: lam.invoke(FunctionName=slow))
    holder.start()
    wait_for(lambda: any(e["state"] == "busy" for e in server.environments()))
    event_invoke(lam, name, {})
    holder.join()
    (record,) = wait_for(lambda: received(server, recorder))
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1


def test_event_invoke_config_api(fast: FireboxServer) -> None:
    lam = fast.client()
    target = create_function(lam, RECORDER)
    name = create_function(lam, OK, Publish=True)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name)
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert put["FunctionArn"] == f"{ARN}{name}:$LATEST" and put["MaximumRetryAttempts"] == 1
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=300,
        DestinationConfig={"OnSuccess": {"Destination": ARN + target}},
    )  # fmt: skip
    assert updated["MaximumRetryAttempts"] == 1 and updated["MaximumEventAgeInSeconds"] == 300
    assert updated["DestinationConfig"]["OnSuccess"]["Destination"] == ARN + target
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=90)
    assert "MaximumRetryAttempts" not in replaced  # Put replaces the whole config
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=0)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [f"{ARN}{name}:$LATEST", f"{ARN}{name}:1"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"MaximumRetryAttempts": 3}, "ValidationException"),  # outside the model
        ({"MaximumEventAgeInSeconds": 59}, "ValidationException"),
        (
            {"DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}}},
            "InvalidParameterValueException",  # a target firebox does not have
        ),
    ]  # fmt: skip
    unchecked = fast.client(parameter_validation=False)  # boto3 would refuse some itself
    for params, code in bad:
        with pytest.raises(ClientError) as refused:
            unchecked.put_function_event_invoke_config(FunctionName=name, **params)
        assert refused.value.response["Error"]["Code"] == code
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier="7")
    config = lam.get_function_event_invoke_config(FunctionName=name)  # bad input changed nothing
    assert config["MaximumEventAgeInSeconds"] == 90
    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="1")
    lam.delete_function(FunctionName=name)
    create_function(lam, OK, FunctionName=name)  # a new function starts with no config
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_event_invoke_config(FunctionName=name)


def test_queue_stats(fast: FireboxServer) -> None:
    lam = fast.client()
    name = create_function(lam, OK)
    for _ in range(3):
        event_invoke(lam, name, {})

    def done() -> Any:
        row = httpx.get(f"{fast.url}/_firebox/queue").json()["Functions"].get(name, {})
        return row if row.get("succeeded") == 3 else None

    row = wait_for(done)
    assert row["waiting"] == 0 and row["in_flight"] == 0
    result = run(fast, "async", "stats")
    assert result.returncode == 0 and name in result.stdout


class _Counter(BaseHTTPRequestHandler):
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen[self.path.strip("/")] += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_no_accepted_event_is_lost_when_the_server_is_killed(
    start_server: Callable[..., FireboxServer],
) -> None:
    """1,000 events, kill -9 mid-way, restart: every event runs at least once."""
    counter = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=counter.serve_forever, daemon=True).start()
    port = counter.server_address[1]
    # Host network: the function reports each run to the test's counter on loopback.
    server = start_server("--network", "host", "--concurrency", "4")
    lam = server.client(max_pool_connections=16)
    code = (
        "import time, urllib.request\n"
        "def handler(event, context):\n"
        "    time.sleep(0.02)\n"
        "    url = f\"http://127.0.0.1:{event['port']}/{event['n']}\"\n"
        "    urllib.request.urlopen(url, timeout=10).read()\n"
    )
    name = create_function(lam, code, Timeout=30)
    total = 1000
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: event_invoke(lam, name, {"n": n, "port": port}), range(total)))
    wait_for(lambda: len(_Counter.seen) >= total // 4, timeout=60)
    server.kill()  # SIGKILL: no shutdown code runs
    ran_before = len(_Counter.seen)
    assert ran_before < total, "the queue drained before the kill; make the function slower"
    server.start()
    wait_for(lambda: len(_Counter.seen) == total, timeout=180)
    assert set(_Counter.seen) == {str(n) for n in range(total)}
    duplicates = sum(count - 1 for count in _Counter.seen.values())
    print(f"\n{ran_before} of {total} ran before the kill; {duplicates} ran twice")
    assert duplicates <= 4 * 2  # at most what was in flight when it died (and its retries)
    counter.shutdown()


def test_review_fixes_self_destination_versions_dlq_and_deleted_functions(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--async-retry-delay", "30s")
    lam = server.client()
    name = create_function(lam, FAIL)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):  # a loop without end
        lam.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnFailure": {"Destination": ARN + name}}
        )
    bad = httpx.put(f"{server.url}/2019-09-25/functions/{name}/event-invoke-config",
                    json={"DestinationConfig": {"OnSuccess": "x"}})  # fmt: skip
    assert bad.status_code == 400  # not a 500
    assert bad.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"  # wrong type
    # A version keeps its own dead-letter target.
    first, second = create_function(lam, RECORDER), create_function(lam, RECORDER)
    versioned = create_function(lam, FAIL, DeadLetterConfig={"TargetArn": ARN + first},
                                Publish=True)  # fmt: skip
    lam.update_function_configuration(FunctionName=versioned,
                                      DeadLetterConfig={"TargetArn": ARN + second})  # fmt: skip
    lam.put_function_event_invoke_config(FunctionName=versioned, Qualifier="1",
                                         MaximumRetryAttempts=0)  # fmt: skip
    event_invoke(lam, versioned, {"to": "v1"}, Qualifier="1")
    assert wait_for(lambda: received(server, first)) == [{"to": "v1"}]
    assert received(server, second) == []
    # Events waiting for a retry go with their function: a new one of that name never runs them.
    event_invoke(lam, name, {"old": True})

    def waiting() -> Any:
        row = httpx.get(f"{server.url}/_firebox/queue").json()["Functions"].get(name, {})
        return row.get("retrying") == 1

    wait_for(waiting)
    lam.delete_function(FunctionName=name)
    create_function(lam, OK, FunctionName=name)
    row = httpx.get(f"{server.url}/_firebox/queue").json()["Functions"].get(name, {})
    assert row.get("waiting", 0) == 0 and row.get("in_flight", 0) == 0

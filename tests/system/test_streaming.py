"""Response streaming: InvokeWithResponseStream (boto3 decodes the event stream) and function
URLs in RESPONSE_STREAM mode. A streaming Python handler is a generator: what it yields is
sent as it is produced."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from support import FireboxServer, create_function

STREAMER = (
    "import time\n"
    "def handler(event, context):\n"
    "    yield 'first '\n"
    "    time.sleep(event.get('pause', 1.5))\n"
    "    yield b'second '\n"
    "    yield {'third': 3}\n"
)


def test_invoke_with_response_stream_delivers_chunks_as_they_come(lam: Any) -> None:
    name = create_function(lam, STREAMER, Timeout=10)
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"pause": 1.5}')
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    arrivals: list[tuple[float, Any]] = []
    for event in response["EventStream"]:
        arrivals.append((time.monotonic(), event))
    chunks = [e["PayloadChunk"]["Payload"] for _, e in arrivals if "PayloadChunk" in e]
    assert b"".join(chunks) == b'first second {"third": 3}'
    assert arrivals[-1][1] == {"InvokeComplete": {}}
    first_at = next(t for t, e in arrivals if "PayloadChunk" in e)
    assert arrivals[-1][0] - first_at > 1.0  # the first chunk came before the handler ended
    # Invoked the buffered way, the same handler returns everything at once.
    buffered = lam.invoke(FunctionName=name, Payload=b'{"pause": 0}')["Payload"].read()
    assert buffered == b'first second {"third": 3}'


def test_stream_of_plain_and_failing_handlers(lam: Any) -> None:
    plain = create_function(lam, "def handler(e, c):\n    return {'a': 1}\n")
    events = list(lam.invoke_with_response_stream(FunctionName=plain)["EventStream"])
    assert events == [{"PayloadChunk": {"Payload": b'{"a": 1}'}}, {"InvokeComplete": {}}]
    failing = create_function(lam, "def handler(e, c):\n    raise ValueError('broken')\n")
    events = list(lam.invoke_with_response_stream(FunctionName=failing)["EventStream"])
    assert events == [{"InvokeComplete": {"ErrorCode": "ValueError", "ErrorDetails": "broken"}}]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke_with_response_stream(FunctionName="no-such-function")


def test_function_url_in_response_stream_mode(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, STREAMER, Timeout=10)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         InvokeMode="RESPONSE_STREAM")["FunctionUrl"]  # fmt: skip
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    arrivals: list[tuple[float, bytes]] = []
    with httpx.stream("POST", f"{server.url}/lambda-url/{url_id}/", json={"pause": 1.5},
                      timeout=30) as response:  # fmt: skip
        assert response.status_code == 200
        for chunk in response.iter_raw():
            arrivals.append((time.monotonic(), chunk))
    assert b"".join(c for _, c in arrivals) == b'first second {"third": 3}'
    assert arrivals[-1][0] - arrivals[0][0] > 1.0  # the first bytes came well before the end

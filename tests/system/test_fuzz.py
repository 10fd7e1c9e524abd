"""Property-based fuzzing of every operation firebox serves, from botocore's own models.

Hypothesis builds requests from each operation's input shape (members of the right types,
members of every wrong type, and hand-written nasties: deep nesting, NUL, lone surrogates,
huge values, foreign ARNs), sends them raw to a real server, and asserts what a client
relies on: never a 5xx; every error an AWS envelope botocore parses; a refused request
changes nothing stored; and the server stays responsive while hostile connections (a
flooding header, a stalled body) are held open beside the fuzzing.

CI runs a bounded, derandomized budget. `make fuzz` runs a longer one:
FIREBOX_FUZZ_EXAMPLES sets the number of requests, FIREBOX_FUZZ_SEED the seed (printed).
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from firebox.api.model import service_model
from support import (
    FireboxServer,
    create_function,
    lambda_client,
    parsed_error,
    stored_state,
)

EXAMPLES = int(os.environ.get("FIREBOX_FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("FIREBOX_FUZZ_SEED", "0")) or None
TARGET = "fz"
NASTY_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "x" * 300, "../..", "..%2f", "%00",
    TARGET, f"{TARGET}:live", "live", "1", "$LATEST", " 5 ", "５", "NaN", "1e3", "-1",
    "arn:aws:lambda:eu-west-1:000000000000:function:fz",
    "arn:aws:lambda:us-east-1:111111111111:function:fz",
    "arn:aws:lambda:us-east-1:000000000000:function:fz:live", "arn:evil:thing:fz",
    "arn:aws:iam::000000000000:role/r", "python3.11", "app.handler", "{}", "[]", "😀",
]  # fmt: skip
NASTY_BODIES = [
    b"", b"{", b"null", b"[]", b'"x"', b"1e999", b"NaN", b'{"a": Infinity}',
    b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000, b"\xff\xfe", b"{}" * 10,
    json.dumps({"FunctionName": "\ud800"}).encode(),
]  # fmt: skip

# The operations firebox serves, by service: every one is fuzzed.
LAMBDA_OPERATIONS = [
    "CreateFunction", "ListFunctions", "GetFunction", "GetFunctionConfiguration",
    "UpdateFunctionConfiguration", "UpdateFunctionCode", "DeleteFunction",
    "GetAccountSettings", "Invoke", "InvokeWithResponseStream", "PublishVersion",
    "ListVersionsByFunction", "CreateAlias", "ListAliases", "GetAlias", "UpdateAlias",
    "DeleteAlias", "ListTags", "TagResource", "UntagResource", "PutFunctionConcurrency",
    "GetFunctionConcurrency", "DeleteFunctionConcurrency", "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig", "DeleteProvisionedConcurrencyConfig",
    "ListProvisionedConcurrencyConfigs", "PutFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
    "DeleteFunctionEventInvokeConfig", "ListFunctionEventInvokeConfigs",
    "CreateFunctionUrlConfig", "GetFunctionUrlConfig", "UpdateFunctionUrlConfig",
    "DeleteFunctionUrlConfig", "ListFunctionUrlConfigs",
]  # fmt: skip
LOGS_OPERATIONS = ["FilterLogEvents", "GetLogEvents", "DescribeLogStreams", "DescribeLogGroups"]
FIREBOX_OPERATIONS = ["StartRollout", "ListRollouts", "GetRollout", "AbortRollout",
                      "AddRoute", "ListRoutes", "RemoveRoute"]  # fmt: skip


@dataclass
class Request:
    service: str
    operation: str
    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


def _any_json() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20),
        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
        st.sampled_from(NASTY_STRINGS),
    )  # fmt: skip
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=6)  # fmt: skip


def _value(shape: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a shape: mostly of its type (within its limits or not), sometimes of any."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "string":
        own = [st.text(max_size=40), st.sampled_from(NASTY_STRINGS)]
        if meta.get("enum"):
            own.insert(0, st.sampled_from(meta["enum"]))
        typed: st.SearchStrategy[Any] = st.one_of(*own)
    elif kind in ("integer", "long"):
        low, high = meta.get("min", -(2**40)), meta.get("max", 2**40)
        typed = st.one_of(st.integers(low, high), st.integers(), st.just(10**30))
    elif kind in ("float", "double"):
        typed = st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        typed = st.booleans()
    elif kind == "blob":
        typed = st.one_of(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
                          st.text(max_size=20))  # fmt: skip
    elif kind == "timestamp":
        typed = st.one_of(st.integers(0, 2**40), st.text(max_size=20))
    elif depth > 3:
        typed = st.none()
    elif kind == "list":
        typed = st.lists(_value(shape.member, depth + 1), max_size=3)
    elif kind == "map":
        # JSON object keys are strings whatever the model says, and must be hashable here.
        keys = st.one_of(st.text(max_size=40), st.sampled_from(NASTY_STRINGS))
        typed = st.dictionaries(keys, _value(shape.value, depth + 1), max_size=3)
    elif kind == "structure":
        typed = _structure(shape, depth + 1)
    else:
        typed = _any_json()
    return st.one_of(typed, typed, typed, _any_json())  # mostly of its type


def _structure(shape: Any, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    members = {n: m for n, m in shape.members.items()}
    required = {n: _value(members[n], depth) for n in shape.required_members if n in members}
    optional = {n: _value(m, depth) for n, m in members.items() if n not in required}
    return st.fixed_dictionaries(required, optional=optional)


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _header_safe(text: str) -> str:
    # Only what an HTTP client can send: printable ASCII, no surrounding whitespace.
    return "".join(c for c in text if 32 <= ord(c) < 127).strip()


@st.composite
def requests(draw: st.DrawFn) -> Request:
    service, operation = draw(st.sampled_from(
        [("lambda", op) for op in LAMBDA_OPERATIONS] + [("logs", op) for op in LOGS_OPERATIONS]
        + [("firebox", op) for op in FIREBOX_OPERATIONS]))  # fmt: skip
    model = service_model(service).operation_model(operation)
    shape = model.input_shape
    members = draw(_structure(shape)) if shape is not None else {}
    if service == "logs":
        raw = draw(st.one_of(st.just(json.dumps(members).encode()), st.sampled_from(NASTY_BODIES)))
        headers = {"X-Amz-Target": f"Logs_20140328.{operation}",
                   "Content-Type": "application/x-amz-json-1.1"}  # fmt: skip
        return Request(service, operation, "POST", "/", [], headers, raw)
    uri = model.http["requestUri"].split("?")[0]
    fixed_query = urllib.parse.parse_qsl(model.http["requestUri"].partition("?")[2])
    params: list[tuple[str, str]] = list(fixed_query)
    headers: dict[str, str] = {}
    body: dict[str, Any] = {}
    payload_member = shape.serialization.get("payload") if shape is not None else None
    payload = b""
    for name, value in members.items():
        member = shape.members[name]
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            text = _wire(value) or TARGET
            quoted = urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")
            uri = uri.replace("{" + wire_name + "}", quoted).replace("{" + wire_name + "+}", quoted)
        elif location == "querystring":
            values = value if isinstance(value, list) else [value]
            params += [(wire_name, _wire(v).encode("utf-8", "surrogatepass").decode("latin-1"))
                       for v in values]  # fmt: skip
        elif location == "header":
            headers[wire_name] = _header_safe(_wire(value))
        elif name == payload_member:
            payload = draw(st.one_of(st.just(json.dumps(value).encode()),
                                     st.sampled_from(NASTY_BODIES)))  # fmt: skip
        else:
            body[name] = value
    for name in shape.members if shape is not None else []:  # uri members left unfilled
        wire_name = shape.members[name].serialization.get("name", name)
        uri = uri.replace("{" + wire_name + "}", TARGET)
    if payload_member is not None:
        raw = payload
    elif body or model.http["method"] in ("POST", "PUT"):
        encoded = json.dumps(body).encode("utf-8", "surrogatepass")
        raw = draw(st.one_of(st.just(encoded), st.just(encoded), st.sampled_from(NASTY_BODIES)))
    else:
        raw = b""
    return Request(service, operation, model.http["method"], uri, params, headers, raw)


class Hostile:
    """Connections held open beside the fuzzing: a flooding header, stalled bodies, silence."""

    def __init__(self, server: FireboxServer) -> None:
        self.server, self.stop = server, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(1)
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
                    kind = rng.choice(["flood", "stall", "silent"])
                    if kind == "flood":
                        s.sendall(b"GET / HTTP/1.1\r\nX-Big: ")
                        for _ in range(64):
                            if self.stop.is_set():
                                break
                            s.sendall(b"z" * 8192)
                    elif kind == "stall":
                        s.sendall(b"POST /2015-03-31/functions HTTP/1.1\r\n"
                                  b"Content-Length: 5000\r\n\r\n{\"F")  # fmt: skip
                    s.recv(1024)  # until the server answers or closes
            except OSError:
                pass


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    server = FireboxServer(data_dir, "--header-timeout", "2s", "--body-timeout", "2s").start()
    lam = lambda_client(server.url)
    create_function(lam, "def handler(event, context):\n    return event\n", FunctionName=TARGET)
    lam.publish_version(FunctionName=TARGET)
    lam.create_alias(FunctionName=TARGET, Name="live", FunctionVersion="1")
    hostile = Hostile(server)
    hostile.thread.start()
    yield server
    hostile.stop.set()
    hostile.thread.join()
    server.stop()
    # Everything sent was the client's doing: the server logged no internal error for it.
    assert "internal error" not in server.log_path.read_text()


def _send(server: FireboxServer, request: Request) -> httpx.Response:
    url = server.url + request.path
    return httpx.request(request.method, url, params=request.params, headers=request.headers,
                         content=request.body, timeout=60)  # fmt: skip


def _check(server: FireboxServer, request: Request) -> None:
    before = stored_state(server.data_dir)
    response = _send(server, request)
    described = (
        f"{request.method} {request.path} {request.params} {request.headers} "
        f"{request.body[:300]!r} -> {response.status_code} {response.text[:300]}"
    )
    assert response.status_code < 500, described
    if response.status_code >= 400:
        service = "lambda" if request.service == "firebox" else request.service
        operation = request.operation if request.service != "firebox" else "GetFunction"
        parsed_error(response, operation, service)
        if request.method != "GET":
            assert stored_state(server.data_dir) == before, described
    # Responsive, with the hostile connections open: the probe saw others stall for 13 s.
    assert httpx.get(f"{server.url}/_firebox/health", timeout=5).status_code == 200


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)  # fmt: skip


def test_no_request_gets_a_5xx_or_changes_state_when_refused(fuzzed: FireboxServer) -> None:
    if SEED is not None:
        print(f"fuzzing with FIREBOX_FUZZ_SEED={SEED}")

    @FUZZ_SETTINGS
    @given(requests())
    def run(request: Request) -> None:
        _check(fuzzed, request)

    if SEED is not None:
        run = seed(SEED)(run)
    run()


@pytest.mark.parametrize("operation", LAMBDA_OPERATIONS)
def test_every_operation_answers_its_nasty_bodies(fuzzed: FireboxServer, operation: str) -> None:
    """The hand-written nasties, each against every Lambda operation (no budget to miss one)."""
    model = botocore.session.get_session().get_service_model("lambda")
    op = model.operation_model(operation)
    path = op.http["requestUri"].split("?")[0]
    for name in op.input_shape.members if op.input_shape else {}:
        path = path.replace("{" + name + "}", TARGET)
    for body in NASTY_BODIES:
        _check(fuzzed, Request("lambda", operation, op.http["method"], path, [], {}, body))


def test_the_server_still_serves_after_the_fuzzing(fuzzed: FireboxServer) -> None:
    """After all of it, the server still does its job."""
    lam = lambda_client(fuzzed.url)
    name = create_function(lam, "def handler(event, context):\n    return {'ok': True}\n")
    result = lam.invoke(FunctionName=name)
    assert json.loads(result["Payload"].read()) == {"ok": True}

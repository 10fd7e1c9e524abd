"""The Extensions and Telemetry APIs inside real sandboxes, with extensions written here (the
OpenTelemetry Lambda collector cannot be fetched on this machine: its builds are GitHub
releases, and its Go modules need the Go proxy; these follow AWS's documented protocol).

- an extension that holds each invoke for 0.4 s: the invoke completes (and REPORT's Duration
  counts) only when it asks for its next event, init waits for its registration, and
  SHUTDOWN reaches it when the environment is retired;
- an extension that subscribes to telemetry and prints what it receives: platform events
  (initStart … report, with metrics) and the function's own log lines;
- what the APIs refuse: unknown extension ids, bad subscriptions, registration after init."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import boto3

from support import FireboxServer, create_function, make_zip, unique, wait_for

# A Python extension as AWS's samples write them (urllib, one event at a time).
API = """#!/usr/bin/python3
import json, os, sys, time, urllib.request
API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
NAME = os.path.basename(__file__)

def call(method, path, body=None, headers=None):
    request = urllib.request.Request(API + path, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.headers, response.read()

def say(*words):
    print(NAME, *words, flush=True)
"""

HOLDER = (
    API
    + """
features = {"Lambda-Extension-Name": NAME, "Lambda-Extension-Accept-Feature": "accountId"}
events = json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode()
headers, body = call("POST", "/register", events, features)
me = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
say("registered", json.loads(body)["functionName"], "account", json.loads(body)["accountId"])
while True:
    _, body = call("GET", "/event/next", headers=me)
    event = json.loads(body)
    if event["eventType"] == "SHUTDOWN":
        say("shutdown", event["shutdownReason"])
        sys.exit(0)
    time.sleep(0.4)  # post-processing: the invoke is not complete until next is called
    say("held", event["requestId"])
"""
)

LISTENER = (
    API
    + """
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

class Receive(BaseHTTPRequestHandler):
    def do_POST(self):
        for event in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            record = event["record"]
            if event["type"] == "function":
                if not record.startswith(NAME):  # (its own lines come back as the function's)
                    say("function", record.strip())
            elif event["type"] == "platform.report":
                say(event["type"], record["requestId"], json.dumps(record["metrics"]))
            elif isinstance(record, dict):
                say(event["type"], record.get("requestId", "-"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("sandbox.localdomain", 4243), Receive)
threading.Thread(target=server.serve_forever, daemon=True).start()
headers, _ = call("POST", "/register", json.dumps({"events": ["INVOKE"]}).encode(),
                  {"Lambda-Extension-Name": NAME})
me = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
subscription = {"schemaVersion": "2022-12-13", "types": ["platform", "function"],
                "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"}}
telemetry = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2022-07-01/telemetry"
request = urllib.request.Request(telemetry, data=json.dumps(subscription).encode(), method="PUT",
                                 headers=me)
urllib.request.urlopen(request).read()
for bad in ({**subscription, "schemaVersion": "1999-01-01"},
            {**subscription, "destination": {"protocol": "HTTP", "URI": "http://example.com:1/"}}):
    try:
        urllib.request.urlopen(urllib.request.Request(
            telemetry, data=json.dumps(bad).encode(), method="PUT", headers=me))
    except urllib.error.HTTPError as error:
        say("refused", error.code, json.loads(error.read())["errorType"])
try:
    call("GET", "/event/next", headers={"Lambda-Extension-Identifier": "nope"})
except urllib.error.HTTPError as error:
    say("refused", error.code, json.loads(error.read())["errorType"])
while True:
    call("GET", "/event/next", headers=me)
"""
)

HANDLER = "def handler(event, context):\n    print('hello from handler')\n    return {'ok': True}\n"


def layer(lam: Any, name: str, source: str) -> str:
    path = f"extensions/{name}"
    arn: str = lam.publish_layer_version(
        LayerName=unique("ext"), Content={"ZipFile": make_zip({path: source}, {path: 0o755})},
    )["LayerVersionArn"]  # fmt: skip
    return arn


def logs(server: FireboxServer, name: str) -> str:
    client = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    events = client.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    return "\n".join(e["message"] for e in events)


def test_an_extension_holds_each_invoke_and_gets_shutdown(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, HANDLER, Layers=[layer(lam, "holder", HOLDER)], Timeout=10)
    for _ in range(2):
        response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        assert json.loads(response["Payload"].read()) == {"ok": True}
        tail = base64.b64decode(response["LogResult"]).decode()
        duration = float(re.search(r"\tDuration: ([\d.]+) ms", tail)[1])  # type: ignore[index]
        assert duration >= 400  # the extension's post-processing counts
        request_id = response["ResponseMetadata"]["RequestId"]
        assert f"holder held {request_id}" in tail  # printed before it called next
    first = logs(server, name)
    assert "holder registered " + name in first and "account 000000000000" in first
    assert first.count("Init Duration") == 1  # one environment, warm the second time
    # A changed configuration retires the environment: SHUTDOWN, then it is gone.
    lam.update_function_configuration(FunctionName=name, Description="retire it")
    wait_for(lambda: "holder shutdown spindown" in logs(server, name), timeout=10)


def test_telemetry_reaches_a_subscribed_extension(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, HANDLER, Layers=[layer(lam, "listener", LISTENER)], Timeout=10)
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    request_id = response["ResponseMetadata"]["RequestId"]
    lam.invoke(FunctionName=name, Payload=b"{}")  # the first invoke's report is sent by now

    def seen() -> str | None:
        text = logs(server, name)
        return text if f"listener platform.report {request_id}" in text else None

    text = wait_for(seen, timeout=10)
    for expected in ("listener platform.initStart", "listener platform.extension",
                     "listener platform.telemetrySubscription", "listener platform.initReport",
                     f"listener platform.start {request_id}",
                     f"listener platform.runtimeDone {request_id}",
                     "listener function hello from handler",
                     "listener refused 400 ValidationError",
                     "listener refused 403 Extension.InvalidExtensionId"):  # fmt: skip
        assert expected in text, expected
    assert text.count("listener refused 400 ValidationError") == 2
    report = next(line for line in text.splitlines()
                  if line.startswith(f"listener platform.report {request_id}"))  # fmt: skip
    metrics = json.loads(report.split(" ", 3)[3])
    assert metrics["billedDurationMs"] >= 1 and metrics["memorySizeMB"] == 128
    assert "initDurationMs" in metrics and metrics["durationMs"] > 0


PROBE = """
import json, os, urllib.request, urllib.error
def handler(event, context):
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension/"
    answers = []
    for request in (
        urllib.request.Request(api + "event/next", headers={"Lambda-Extension-Identifier": "x"}),
        urllib.request.Request(api + "register", data=b'{"events": ["INVOKE"]}', method="POST",
                               headers={"Lambda-Extension-Name": "late"}),
    ):
        try:
            urllib.request.urlopen(request)
            answers.append("accepted")
        except urllib.error.HTTPError as e:
            answers.append([e.code, json.loads(e.read())["errorType"]])
    return answers
"""


def test_the_extensions_api_refuses_strangers_and_latecomers(
    lam: Any, server: FireboxServer
) -> None:
    name = create_function(lam, PROBE)
    answer = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert answer == [[403, "Extension.InvalidExtensionId"], [403, "Extension.InvalidState"]]
    again = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert again == answer  # the late registration changed nothing: the invoke was not held


NODE = "exports.handler = async () => ({ ok: true });\n"


def test_extensions_beside_node_runtimes(lam: Any, server: FireboxServer) -> None:
    arn = layer(lam, "holder", HOLDER)
    for _ in range(2):  # two cold starts: the second may come from pre-built sandboxes
        name = unique("node")
        lam.create_function(
            FunctionName=name, Runtime="nodejs20.x", Role="arn:aws:iam::000000000000:role/test",
            Handler="index.handler", Code={"ZipFile": make_zip({"index.js": NODE})},
            Layers=[arn], Timeout=10,
        )  # fmt: skip
        response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        assert json.loads(response["Payload"].read()) == {"ok": True}
        tail = base64.b64decode(response["LogResult"]).decode()
        assert f"holder held {response['ResponseMetadata']['RequestId']}" in tail

"""Node.js functions on a real server, in real sandboxes: nodejs20.x, 22.x and 24.x on real
Node binaries (the host's, or the bootstrap's), CommonJS and ES-module handlers (top-level
await, `"type": "module"`), async and callback handlers (refused on 24.x, as AWS does), the
context object, errors as AWS's Node runtime reports them (function errors, every init error
type, unhandled rejections, timeouts), and console output in AWS's format in `Tail` logs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from support import FireboxServer, create_function

RUNTIMES = ("nodejs20.x", "nodejs22.x", "nodejs24.x")


def node_function(lam: Any, files: dict[str, str], runtime: str = "nodejs22.x",
                  handler: str = "index.handler", **kw: Any) -> str:  # fmt: skip
    return create_function(lam, dict(files), Runtime=runtime, Handler=handler, **kw)


def invoke(lam: Any, name: str, event: Any = None) -> tuple[str | None, Any, str]:
    """(FunctionError, the payload parsed, the Tail log)."""
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(),
                        LogType="Tail")  # fmt: skip
    return (answer.get("FunctionError"), json.loads(answer["Payload"].read()),
            base64.b64decode(answer["LogResult"]).decode())  # fmt: skip


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_each_runtime_runs_its_own_node(lam: Any, runtime: str) -> None:
    name = node_function(lam, {"index.js": (
        "exports.handler = async (event, context) => ({ version: process.versions.node,"
        " env: process.env.AWS_EXECUTION_ENV, event });"
    )}, runtime)  # fmt: skip
    error, result, _ = invoke(lam, name, {"n": 1})
    assert error is None
    assert result["version"].split(".")[0] == runtime.removeprefix("nodejs").removesuffix(".x")
    assert result["env"] == f"AWS_Lambda_{runtime}" and result["event"] == {"n": 1}


def test_commonjs_handler_with_context_and_console_format(lam: Any) -> None:
    name = node_function(lam, {"index.js": """
exports.handler = async (event, context) => {
  console.log("hello", { a: 1 });
  console.error("careful");
  return {
    functionName: context.functionName, version: context.functionVersion,
    arn: context.invokedFunctionArn, memory: context.memoryLimitInMB,
    requestId: context.awsRequestId, group: context.logGroupName,
    stream: typeof context.logStreamName, left: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
  };
};
"""}, Timeout=7)  # fmt: skip
    error, result, log = invoke(lam, name)
    assert error is None
    assert result["functionName"] == name and result["version"] == "$LATEST"
    assert result["arn"].endswith(f":function:{name}") and result["memory"] == "128"
    assert result["group"] == f"/aws/lambda/{name}" and result["stream"] == "string"
    assert 0 < result["left"] <= 7000 and result["waits"] is True
    lines = [line.split("\t") for line in log.splitlines() if "\t" in line and "INFO" in line]
    stamp, request_id, level, message = lines[0]
    assert stamp.endswith("Z") and request_id == result["requestId"] and level == "INFO"
    assert message == "hello { a: 1 }"
    assert f"\t{result['requestId']}\tERROR\tcareful" in log


def test_es_modules_with_top_level_await_and_package_type(lam: Any) -> None:
    mjs = node_function(lam, {"index.mjs": (
        "const ready = await new Promise((r) => setTimeout(() => r('warm'), 10));\n"
        "export const handler = async (event) => ({ ready, event });\n"
    )})  # fmt: skip
    assert invoke(lam, mjs, {"x": 2})[:2] == (None, {"ready": "warm", "event": {"x": 2}})
    typed = node_function(lam, {
        "package.json": '{"type": "module"}',
        "src/app.js": "export const handler = async () => 'esm by package.json';",
    }, handler="src/app.handler")  # fmt: skip
    assert invoke(lam, typed)[:2] == (None, "esm by package.json")


def test_callback_handlers_wait_for_the_event_loop(lam: Any) -> None:
    waits = node_function(lam, {"index.js": """
exports.handler = (event, context, callback) => {
  setTimeout(() => console.log("timer ran"), 100);
  callback(null, { via: "callback" });
};
"""}, "nodejs20.x")  # fmt: skip
    error, result, log = invoke(lam, waits)
    assert (error, result) == (None, {"via": "callback"})
    assert "timer ran" in log.split("END RequestId")[0]  # before the invoke ended
    eager = node_function(lam, {"index.js": """
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  callback(new Error("told you"));
};
"""}, "nodejs22.x")  # fmt: skip
    error, result, _ = invoke(lam, eager)
    assert error == "Unhandled" and result["errorMessage"] == "told you"
    refused = node_function(lam, {"index.js": (
        "exports.handler = (event, context, callback) => callback(null, 1);"
    )}, "nodejs24.x")  # fmt: skip
    error, result, _ = invoke(lam, refused)
    assert error == "Unhandled" and result["errorType"] == "Runtime.CallbackHandlerDeprecated"
    assert "Node.js 24" in result["errorMessage"]


def test_function_errors_as_aws_reports_them(lam: Any) -> None:
    name = node_function(lam, {"index.js": """
class OrderError extends Error {
  constructor(m) { super(m); this.name = "OrderError"; this.code = 7; }
}
exports.handler = async () => { throw new OrderError("no stock"); };
"""})  # fmt: skip
    error, result, log = invoke(lam, name)
    assert error == "Unhandled"
    assert (result["errorType"], result["errorMessage"]) == ("OrderError", "no stock")
    assert set(result) == {"errorType", "errorMessage", "trace"}  # its other fields: the log
    assert "code: 7" in log
    assert result["trace"][0] == "OrderError: no stock"
    assert any("/var/task/index.js" in line for line in result["trace"])
    assert "\tERROR\tOrderError \t" in log  # AWS's Node runtime logs `Invoke Error`-style lines


@pytest.mark.parametrize(("files", "handler", "error_type"), [
    ({"other.js": ""}, "index.handler", "Runtime.ImportModuleError"),
    ({"index.js": "exports.other = 1;"}, "index.handler", "Runtime.HandlerNotFound"),
    ({"index.js": "exports.handler = async () => {"}, "index.handler",
     "Runtime.UserCodeSyntaxError"),
    ({"index.js": "exports.handler = 5;"}, "index.handler", "Runtime.HandlerNotFound"),
    ({"index.js": "throw new RangeError('init failed');"}, "index.handler", "RangeError"),
    ({"index.js": ""}, "index", "Runtime.MalformedHandlerName"),
])  # fmt: skip
def test_init_errors(lam: Any, files: dict[str, str], handler: str, error_type: str) -> None:
    name = node_function(lam, files, handler=handler)
    error, result, _ = invoke(lam, name)
    assert error == "Unhandled" and result["errorType"] == error_type, result


def test_unhandled_rejection_and_timeout_end_the_environment(lam: Any) -> None:
    rejects = node_function(lam, {"index.js": """
exports.handler = async () => {
  Promise.reject(new Error("forgotten"));
  await new Promise((r) => setTimeout(r, 200));
  return "never";
};
"""})  # fmt: skip
    error, result, _ = invoke(lam, rejects)
    assert error == "Unhandled" and result["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert result["errorMessage"] == "Error: forgotten"
    slow = node_function(lam, {"index.js": (
        "exports.handler = async () => new Promise((r) => setTimeout(r, 10000));"
    )}, Timeout=1)  # fmt: skip
    error, result, _ = invoke(lam, slow)
    assert error == "Unhandled" and "Task timed out after 1.00 seconds" in result["errorMessage"]
    # the next invoke gets a fresh environment, and works
    fine = node_function(lam, {"index.js": "let n = 0; exports.handler = async () => ++n;"})
    assert [invoke(lam, fine)[1] for _ in range(3)] == [1, 2, 3]  # warm: one environment


def test_a_missing_runtime_names_the_ones_there_are(server: FireboxServer, lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        node_function(lam, {"index.js": ""}, "nodejs16.x")
    assert "nodejs22.x" in str(refused.value)


def test_the_bundled_sdk_reaches_firebox_from_commonjs_and_es_modules(lam: Any) -> None:
    target = node_function(lam, {"index.js": "exports.handler = async (e) => ({ echoed: e });"})
    cjs = node_function(lam, {"index.js": f"""
const {{ LambdaClient, InvokeCommand }} = require("@aws-sdk/client-lambda");
const client = new LambdaClient({{}});
exports.handler = async (event) => {{
  const out = await client.send(new InvokeCommand({{
    FunctionName: "{target}", Payload: JSON.stringify(event) }}));
  return JSON.parse(Buffer.from(out.Payload).toString());
}};
"""}, Timeout=30)  # fmt: skip
    error, result, _ = invoke(lam, cjs, {"via": "cjs"})
    assert (error, result) == (None, {"echoed": {"via": "cjs"}})
    esm = node_function(lam, {"index.mjs": f"""
import {{ LambdaClient, GetFunctionCommand }} from "@aws-sdk/client-lambda";
const client = new LambdaClient({{}});
export const handler = async () => {{
  const found = await client.send(new GetFunctionCommand({{ FunctionName: "{target}" }}));
  return found.Configuration.Runtime;
}};
"""}, "nodejs24.x", Timeout=30)  # fmt: skip
    assert invoke(lam, esm)[:2] == (None, "nodejs22.x")


def test_the_v8_heap_follows_the_memory_setting(lam: Any) -> None:
    code = {"index.js": (
        "const v8 = require('v8');\n"
        "exports.handler = async () => v8.getHeapStatistics().heap_size_limit / 1048576;"
    )}  # fmt: skip
    small = node_function(lam, code, MemorySize=256)
    large = node_function(lam, code, MemorySize=1024)
    small_mb, large_mb = invoke(lam, small)[1], invoke(lam, large)[1]
    # the old generation is 85% of the memory; V8 adds its young generation on top
    assert abs((large_mb - small_mb) - (1024 - 256) * 0.85) < 5
    assert small_mb < 300 and large_mb < 1024


NODE_STREAMER = """
const { pipeline } = require("node:stream/promises");
const { Readable } = require("node:stream");
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  event = event.body ? JSON.parse(event.body) : event;  // a function URL's request body
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201, headers: { "content-type": "text/plain", "x-made-by": "node" },
      cookies: ["a=1"],
    });
  }
  responseStream.write("first ");
  await new Promise((r) => setTimeout(r, event.pause ?? 1200));
  await pipeline(Readable.from(["second ", "third"]), responseStream);
});
"""


def test_response_streaming_from_node(lam: Any, server: FireboxServer) -> None:
    import time

    import httpx

    name = node_function(lam, {"index.js": NODE_STREAMER}, "nodejs24.x", Timeout=10)
    answer = lam.invoke_with_response_stream(FunctionName=name, Payload=b'{"pause": 1200}')
    arrivals = [(time.monotonic(), e) for e in answer["EventStream"]]
    chunks = [e["PayloadChunk"]["Payload"] for _, e in arrivals if "PayloadChunk" in e]
    assert b"".join(chunks) == b"first second third"
    first_at = next(t for t, e in arrivals if "PayloadChunk" in e)
    assert arrivals[-1][0] - first_at > 1.0  # the first chunk came before the handler ended
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         InvokeMode="RESPONSE_STREAM")["FunctionUrl"]  # fmt: skip
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    with httpx.stream("POST", f"{server.url}/lambda-url/{url_id}/",
                      json={"http": True, "pause": 10}, timeout=30) as response:  # fmt: skip
        body = response.read()
        assert response.status_code == 201 and response.headers["x-made-by"] == "node"
        assert response.headers["content-type"] == "text/plain"
        assert response.headers["set-cookie"] == "a=1"
    assert body == b"first second third"


NODE_PROBES = """
const fs = require("fs");
const net = require("net");
function connect(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.on("connect", () => { socket.destroy(); resolve("CONNECTED"); });
    socket.on("error", (err) => resolve(err.code));
    socket.on("timeout", () => { socket.destroy(); resolve("TIMEOUT"); });
  });
}
exports.handler = async (event) => {
  const out = { uid: process.getuid(), read: {}, write: {}, connect: {} };
  for (const path of event.read) {
    try { out.read[path] = "READ " + fs.readFileSync(path).length; }
    catch (e) { out.read[path] = e.code; }
  }
  for (const path of event.write) {
    try { fs.appendFileSync(path, "x"); out.write[path] = "WROTE"; }
    catch (e) { out.write[path] = e.code; }
  }
  for (const [host, port] of event.connect) {
    out.connect[`${host}:${port}`] = await connect(host, port);
  }
  out.root = fs.readdirSync("/").sort();
  out.var = fs.readdirSync("/var").sort();
  return out;
};
"""


def test_hostile_probes_from_node_are_contained(lam: Any, server: FireboxServer) -> None:
    """The isolation suite's harmless probes, from a Node function: host files unseen, the
    code, runtime, SDK and root read-only, the server's port out of reach."""
    from pathlib import Path

    name = node_function(lam, {"index.js": NODE_PROBES}, Timeout=20)
    secrets = ["/etc/shadow", str(server.data_dir.resolve() / "firebox.sqlite3"),
               str(Path(__file__).resolve()), "/root/.bash_history"]  # fmt: skip
    writes = ["/var/task/index.js", "/evil", "/usr/evil", "/var/runtime/index.mjs",
              "/var/node_modules/evil.js", "/etc/passwd"]  # fmt: skip
    error, body, _ = invoke(lam, name, {"read": secrets, "write": [*writes, "/tmp/fine"],
                                        "connect": [["127.0.0.1", server.port]]})  # fmt: skip
    assert error is None, body
    assert body["uid"] != 0
    assert all(body["read"][p] in ("ENOENT", "EACCES") for p in secrets), body["read"]
    assert all(body["write"][p] in ("EROFS", "EACCES", "ENOENT") for p in writes), body["write"]
    assert body["write"]["/tmp/fine"] == "WROTE"
    assert list(body["connect"].values()) != ["CONNECTED"]
    assert set(body["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt",
                                 "proc", "sbin", "tmp", "usr", "var"}  # fmt: skip
    assert set(body["var"]) <= {"lang", "runtime", "node_modules", "task"}


def test_a_node_function_past_its_memory_is_stopped(lam: Any) -> None:
    name = node_function(lam, {"index.js": (
        "exports.handler = async () => { const hog = [];"
        " for (;;) hog.push(Buffer.alloc(8 << 20, 1)); };"
    )}, MemorySize=128, Timeout=60)  # fmt: skip
    error, body, _ = invoke(lam, name)
    assert error == "Unhandled"
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError"), body
    fine = node_function(lam, {"index.js": "exports.handler = async () => 'fine';"})
    assert invoke(lam, fine)[:2] == (None, "fine")  # the server is unharmed


EXPRESS_APP = """
const express = require("express");
const serverless = require("serverless-http");
const app = express();
app.use(express.json());
app.get("/items/:id", (req, res) => res.json({ id: req.params.id, q: req.query.q }));
app.post("/items", (req, res) => res.status(201).set("x-app", "express").json(req.body));
exports.handler = serverless(app);
"""


def node_app_modules() -> dict[str, bytes]:
    """tests/node-apps/node_modules (express, serverless-http), as a function vendors it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "node-apps"
    modules = root / "node_modules"
    if not (modules / ".package-lock.json.installed").exists():
        pytest.fail("tests/node-apps is not installed: run `make bootstrap`")
    return {str(p.relative_to(root)): p.read_bytes() for p in modules.rglob("*") if p.is_file()}


def test_an_express_app_behind_serverless_http_through_a_function_url(
    lam: Any, server: FireboxServer
) -> None:
    import httpx

    files: dict[str, Any] = {**node_app_modules(), "app.js": EXPRESS_APP}
    name = create_function(lam, files, Runtime="nodejs22.x", Handler="app.handler", Timeout=10)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    base = f"{server.url}/lambda-url/{url.split('//', 1)[1].split('.', 1)[0]}"
    got = httpx.get(f"{base}/items/7?q=shoes", timeout=30)
    assert got.status_code == 200 and got.json() == {"id": "7", "q": "shoes"}
    made = httpx.post(f"{base}/items", json={"name": "boot"}, timeout=30)
    assert made.status_code == 201 and made.headers["x-app"] == "express"
    assert made.json() == {"name": "boot"}
    assert httpx.get(f"{base}/nowhere", timeout=30).status_code == 404


def test_node_versions_aliases_event_invokes_and_queue_triggers(
    lam: Any, server: FireboxServer
) -> None:
    import boto3

    from support import recorded_events, wait_for

    recorder = node_function(lam, {"index.js": (
        "exports.handler = async (event, context) => {"
        " console.log('EVENT ' + JSON.stringify(event)); return context.functionVersion; };"
    )})  # fmt: skip
    version = lam.publish_version(FunctionName=recorder)["Version"]
    lam.create_alias(FunctionName=recorder, Name="live", FunctionVersion=version)
    answer = lam.invoke(FunctionName=recorder, Qualifier="live", Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == version
    lam.invoke(FunctionName=recorder, InvocationType="Event", Payload=b'{"n": 2}')
    kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="x",
              aws_secret_access_key="x")  # fmt: skip
    sqs, logs = boto3.client("sqs", **kw), boto3.client("logs", **kw)  # type: ignore[call-overload]
    url = sqs.create_queue(QueueName=f"{recorder}-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]  # fmt: skip
    lam.create_event_source_mapping(FunctionName=recorder, EventSourceArn=arn, BatchSize=1)
    sqs.send_message(QueueUrl=url, MessageBody="from the queue")

    def seen() -> bool:
        events = recorded_events(logs, recorder)
        bodies = [e.get("Records", [{}])[0].get("body") for e in events if "Records" in e]
        return {1, 2} <= {e.get("n") for e in events} and "from the queue" in bodies

    wait_for(seen, timeout=30)


def test_how_handlers_answer_as_on_aws(lam: Any) -> None:
    """The review's cases: AWS's rules for who answers an invocation, and when."""
    cases: list[tuple[str, str, Any]] = [
        # a plain handler's return value is not its answer: null, once the loop is empty
        ("exports.handler = () => 'ignored';", "nodejs20.x", None),
        # the legacy context methods, later
        ("exports.handler = (e, ctx) => { setTimeout(() => ctx.succeed('late'), 100); };",
         "nodejs20.x", "late"),
        # a callback's error goes at once, open handles or not
        ("exports.handler = (e, c, cb) => { setInterval(() => {}, 1000); cb(new Error('now')); };",
         "nodejs22.x", {"errorType": "Error", "errorMessage": "now"}),
        # the first answer wins: the callback's, not the promise's
        ("exports.handler = async (e, c, cb) => { cb(null, 'callback'); return 'promise'; };",
         "nodejs22.x", "callback"),
        # an export path below the module (`index.nested.handler`)
        ("exports.nested = { handler: async () => 'nested' };", "nodejs22.x", "nested"),
        # an async handler that never settles: the runtime ends without a reason
        ("exports.handler = async () => new Promise(() => {});", "nodejs24.x",
         {"errorType": "Runtime.NodeJsExit"}),
        # an error whose fields cannot be serialised (an HTTP client's, with cycles)
        ("exports.handler = async () => { const e = new Error('circular'); e.self = e;"
         " e.big = 10n; e.name = 'Ошибка'; throw e; };", "nodejs24.x",
         {"errorType": "Ошибка", "errorMessage": "circular"}),
        ("exports.handler = async () => { console.fatal('bye'); return { big: 1n }; };",
         "nodejs22.x", {"errorMessage": "Unable to stringify response body"}),
    ]  # fmt: skip
    for code, runtime, expected in cases:
        handler = "index.nested.handler" if "nested" in code else "index.handler"
        name = node_function(lam, {"index.js": code}, runtime, handler=handler, Timeout=5)
        error, result, _ = invoke(lam, name)
        if isinstance(expected, dict):
            assert error == "Unhandled", (code, result)
            assert {k: result.get(k) for k in expected} == expected, (code, result)
        else:
            assert (error, result) == (None, expected), code
        assert invoke(lam, name)[0] == error  # and the next invoke is answered alike


def test_streaming_handlers_edge_cases(lam: Any) -> None:
    sync = node_function(lam, {"index.js": (
        "exports.handler = awslambda.streamifyResponse((e, s) => { s.write('x'); s.end(); });"
    )})  # fmt: skip
    error, result, _ = invoke(lam, sync)
    assert error == "Unhandled" and result["errorType"] == "Runtime.MalformedStreamingHandler"
    early = node_function(lam, {"index.js": (
        "exports.handler = awslambda.streamifyResponse(async (e, s) => {"
        " s = awslambda.HttpResponseStream.from(s, { statusCode: 200 });"
        " throw new Error('db down'); });"
    )})  # fmt: skip
    error, result, _ = invoke(lam, early)  # nothing was written: a function error
    assert error == "Unhandled" and result["errorMessage"] == "db down"
    after_end = node_function(lam, {"index.js": (
        "exports.handler = awslambda.streamifyResponse(async (e, s) => {"
        " s.write('done'); s.end(); s.write('more'); });"
    )}, Timeout=5)  # fmt: skip
    events = list(lam.invoke_with_response_stream(FunctionName=after_end)["EventStream"])
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    # what was written went out; the write after the end is the handler's error, as an
    # uncaught one (the environment ends), not a hang until the timeout
    assert chunks == b"done"
    assert events[-1]["InvokeComplete"]["ErrorDetails"] == "write after end"


def test_an_error_after_the_stream_began_goes_in_the_trailers(lam: Any) -> None:
    name = node_function(lam, {"index.js": (
        "let calls = 0;\n"
        "exports.handler = awslambda.streamifyResponse(async (e, s) => {"
        " calls += 1; s.write('partial'); s.write(` ${calls}`);"
        " if (calls > 1) await new Promise((r) => setTimeout(r, 20));"
        " throw new TypeError('lost the db'); });"
    )})  # fmt: skip
    for calls in (1, 2):  # an ordinary function error: the environment stays
        events = list(lam.invoke_with_response_stream(FunctionName=name)["EventStream"])
        chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
        assert chunks == f"partial {calls}".encode()  # what was sent stays sent
        assert events[-1]["InvokeComplete"]["ErrorCode"] == "TypeError"
        assert events[-1]["InvokeComplete"]["ErrorDetails"] == "lost the db"
    # a buffered invoke of the same function sees the function error
    answer = lam.invoke(FunctionName=name)
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "TypeError"

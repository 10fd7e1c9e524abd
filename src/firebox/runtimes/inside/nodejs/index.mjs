// firebox's Runtime API client for Node.js: small, dependency-free, speaking the Lambda
// Runtime API at AWS_LAMBDA_RUNTIME_API with the semantics of AWS's own Node runtime. It
// loads the handler (CommonJS or ES module, top-level await), runs each invocation (async,
// callback or streaming handlers), formats console output and errors as AWS's runtime does.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";

// What the runtime itself uses, taken before any function code runs: a function that
// patches http, JSON or process (an APM agent, a test's nock) cannot intercept the runtime.
const httpRequest = http.request;
const Agent = http.Agent;
const stringify = JSON.stringify;
const parseJson = JSON.parse;
const writeOut = process.stdout.write.bind(process.stdout);
const exit = process.exit.bind(process);
const BufferFrom = Buffer.from;

// A pre-started runtime first runs, once, what its first invocation will: an HTTP exchange
// with JSON bodies (against a throwaway loopback server) and the loading of a CommonJS file.
// Node compiles its own modules lazily: otherwise that would be ~10 ms of the cold start.
async function warmUp() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end(stringify({ warm: true })));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const spare = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: "127.0.0.1", port: server.address().port, method: "POST", path: "/", agent: spare,
          headers: { "Content-Type": "application/json" } },
        (res) => {
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => resolve(parseJson(Buffer.concat(chunks).toString())));
        },
      );
      req.on("error", reject);
      req.on("socket", (socket) => socket.setNoDelay(true));
      req.end(BufferFrom(stringify({})));
    });
  } finally {
    spare.destroy();
    server.close();
  }
  createRequire(import.meta.url)("./warm.cjs");
}
if (process.env._FIREBOX_ASSIGN_FD !== undefined) {
  let timer;
  try {  // bounded: a warm-up that hangs must not keep the function waiting
    await Promise.race([warmUp(), new Promise((resolve) => { timer = setTimeout(resolve, 2000); })]);
  } catch {
    // only an optimisation: a sandbox without loopback (say) starts a little slower
  } finally {
    clearTimeout(timer);
  }
}

// A pre-started runtime (firebox's reserve of pre-built sandboxes) runs this far before any
// function is assigned to it, then blocks here until the function's environment arrives on
// the descriptor _FIREBOX_ASSIGN_FD names (KEY=VALUE entries, NUL-separated). Nothing of the
// function exists until then: its code is mounted at /var/task by the time the write comes.
function awaitAssignment() {
  const fd = process.env._FIREBOX_ASSIGN_FD;
  if (fd === undefined) return;
  const chunks = [];
  const buffer = Buffer.alloc(1 << 16);
  for (let n; (n = fs.readSync(Number(fd), buffer, 0, buffer.length, null)) > 0; ) {
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  fs.closeSync(Number(fd));
  if (chunks.length === 0) exit(0);  // let go unassigned
  const assigned = new Map();
  for (const entry of Buffer.concat(chunks).toString("utf8").split("\0")) {
    const at = entry.indexOf("=");
    if (at > 0) assigned.set(entry.slice(0, at), entry.slice(at + 1));
  }
  // Only what differs is touched: every change of TZ makes Node reload its time zone
  // (~25 ms), and the start had the function's TZ already.
  for (const key of Object.keys(process.env)) if (!assigned.has(key)) delete process.env[key];
  for (const [key, value] of assigned) if (process.env[key] !== value) process.env[key] = value;
  process.chdir(process.env.LAMBDA_TASK_ROOT || "/var/task");  // the mount came after start
  createRequire(import.meta.url)("node:module")._initPaths();  // NODE_PATH is the function's
}
awaitAssignment();

const API = process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001";
const [HOST, PORT] = API.includes(":") ? API.split(":") : [API, "80"];
const PREFIX = "/2018-06-01/runtime";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const MAJOR = Number(process.versions.node.split(".")[0]);
// One kept-alive connection for /next and the answers; streams and crash reports get their
// own connections, so that neither waits behind the other.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

// ----- the Runtime API ------------------------------------------------------------------------
function request(method, route, body, headers = {}, own = false) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : BufferFrom(body);
    const req = httpRequest(
      { host: HOST, port: PORT, method, path: PREFIX + route, agent: own ? false : agent,
        headers: { ...headers, ...(data ? { "Content-Length": data.length } : {}) } },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                      body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    // Headers and body in one segment, sent at once: with Nagle's algorithm a small body
    // would wait for the server's delayed ACK (tens of milliseconds).
    req.on("socket", (socket) => socket.setNoDelay(true));
    req.end(data);
  });
}

// A header carries only visible ASCII: anything else in an error type is percent-encoded.
const headerSafe = (text) => String(text).replace(/[^\x20-\x7e]/g, (c) => encodeURIComponent(c));

function postError(route, doc, own = false) {
  return request("POST", route, stringify(doc), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": headerSafe(doc.errorType),
  }, own);
}

// ----- console output, as AWS's Node runtime writes it ----------------------------------------
let currentRequestId = undefined;

// LoggingConfig: JSON lines, filtered by ApplicationLogLevel (read once, at the first line).
const LEVEL_ORDER = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4, FATAL: 5 };
let logFormat = undefined;

function emit(level, message, args = undefined) {
  if (logFormat === undefined) {
    const json = process.env.AWS_LAMBDA_LOG_FORMAT === "JSON";
    const min = LEVEL_ORDER[String(process.env.AWS_LAMBDA_LOG_LEVEL || "").toUpperCase()];
    logFormat = { json, min: json && min !== undefined ? min : 0 };
  }
  if (logFormat.json) {
    if (LEVEL_ORDER[level] < logFormat.min) return;
    const doc = { timestamp: new Date().toISOString(), level, requestId: currentRequestId,
                  message };
    // As AWS's runtime: one object stays structured; an Error brings its type and stack.
    if (args && args.length === 1 && args[0] instanceof Error) {
      doc.errorType = args[0].name;
      doc.errorMessage = args[0].message;
      doc.stackTrace = String(args[0].stack || "").split("\n");
    } else if (args && args.length === 1 && args[0] !== null && typeof args[0] === "object") {
      doc.message = args[0];
    }
    let line;
    try {
      line = JSON.stringify(doc);
    } catch {  // cycles, BigInts: the text form
      line = JSON.stringify({ ...doc, message });
    }
    writeOut(line + "\n");
    return;
  }
  const line = `${new Date().toISOString()}\t${currentRequestId ?? "undefined"}\t${level}\t${message}`;
  writeOut(line.replace(/\n/g, "\r") + "\n");
}

function patchConsole() {
  const levels = { log: "INFO", info: "INFO", debug: "DEBUG", warn: "WARN", error: "ERROR",
                   trace: "TRACE", fatal: "FATAL" };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => emit(level, util.format(...args), args);
  }
}

// ----- errors ---------------------------------------------------------------------------------
class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

// What the caller gets: the type, the message and the stack, as AWS posts them (the error's
// other fields only in the log: they may hold secrets, cycles or BigInts).
function errorDoc(err) {
  try {
    if (err instanceof Error) {
      return { errorType: String(err.name || "Error"), errorMessage: String(err.message),
               trace: String(err.stack || "").split("\n") };
    }
    if (err === undefined) return { errorType: "string", errorMessage: "handled", trace: [] };
    if (err && typeof err === "object") {
      return { errorType: "object", errorMessage: util.inspect(err, { depth: 2 }), trace: [] };
    }
    return { errorType: typeof err === "string" ? "string" : typeof err,
             errorMessage: String(err), trace: [] };
  } catch {
    return { errorType: "Runtime.UnknownError", errorMessage: "an error firebox could not read",
             trace: [] };
  }
}

function logError(doc, err) {
  let text;
  try {
    const extra = err instanceof Error ? { ...err } : {};
    text = util.inspect({ ...doc, ...extra }, { depth: 3, breakLength: Infinity });
  } catch {
    text = stringify(doc);
  }
  const label = doc.errorType === "string" ? "Invoke Error" : doc.errorType;
  emit("ERROR", `${label} \t${text}`);
}

// ----- response streaming (awslambda.streamifyResponse) ---------------------------------------
const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";

// The stream a streaming handler writes: each write goes out at once as one chunk of the
// Runtime API's streaming response (a chunked POST on its own connection), opened at the
// first write or the end.
class ResponseStream extends Writable {
  constructor(requestId) {
    super();
    this.requestId = requestId;
    this.contentType = "application/octet-stream";
    this.prelude = undefined;  // HttpResponseStream.from's metadata, sent with the first write
    this.request = undefined;
    this.answered = new Promise((resolve) => { this.answer = resolve; });
    // Destroyed (a write after the end, pipeline's failure): what was written still goes
    // out, ended there, so the invocation ends instead of waiting for its timeout.
    this.on("close", () => {
      if (!this.request) this.answer(undefined);
      else if (!this.request.writableEnded) this._endRequest();
    });
    this.failure = undefined;  // an error after the first write: sent in the trailers
  }

  setContentType(type) { this.contentType = type; }

  _open() {
    if (this.request) return this.request;
    this.request = httpRequest({
      host: HOST, port: PORT, method: "POST", agent: false,
      path: `${PREFIX}/invocation/${this.requestId}/response`,
      headers: { "Lambda-Runtime-Function-Response-Mode": "streaming",
                 "Transfer-Encoding": "chunked", "Content-Type": this.contentType,
                 "Trailer": "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body" },
    }, (res) => { res.resume(); res.on("end", () => this.answer(res.statusCode)); });
    this.request.on("error", (err) => this.answer(err));
    this.request.on("socket", (socket) => socket.setNoDelay(true));
    return this.request;
  }

  _write(chunk, encoding, callback) {
    if (this.prelude !== undefined) {
      chunk = Buffer.concat([this.prelude, chunk]);
      this.prelude = undefined;
    }
    if (chunk.length === 0) return callback();
    this._open().write(chunk, callback);
  }

  // Fails the response after it began, as AWS's runtime does: what was written still goes
  // out (in order, through the stream), then the error, in the request's trailers.
  fail(doc) {
    this.failure = doc;
    if (!this.writableEnded && !this.destroyed) this.end();
    else if (this.destroyed && this.request && !this.request.writableEnded) this._endRequest();
  }

  _endRequest(callback) {
    if (this.failure) {
      this.request.addTrailers({
        "Lambda-Runtime-Function-Error-Type": headerSafe(this.failure.errorType),
        "Lambda-Runtime-Function-Error-Body": BufferFrom(stringify(this.failure)).toString("base64"),
      });
    }
    this.request.end(callback);
  }

  _final(callback) {
    if (this.prelude !== undefined) return this._write(Buffer.alloc(0), () => this._final(callback));
    this._open();
    this._endRequest(callback);
  }
}

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = "response";
    return handler;
  },
  HttpResponseStream: {
    // A function URL's status, headers and cookies: a JSON prelude and eight NUL bytes before
    // the body, sent with the first write (an error before it is a plain function error).
    from(stream, metadata) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.prelude = Buffer.concat([BufferFrom(stringify(metadata ?? {})), Buffer.alloc(8)]);
      return stream;
    },
  },
};

// ----- loading the handler --------------------------------------------------------------------
function isModuleTree(dir) {
  // The nearest package.json at or above the file (within the task root) says its type.
  let at = dir;
  for (;;) {
    const pkg = path.join(at, "package.json");
    if (fs.existsSync(pkg)) {
      try { return parseJson(fs.readFileSync(pkg, "utf8")).type === "module"; }
      catch { return false; }
    }
    if (at === TASK_ROOT || at === path.dirname(at)) return false;
    at = path.dirname(at);
  }
}

async function loadModule(modulePath) {
  const base = path.resolve(TASK_ROOT, modulePath);
  for (const ext of [".js", ".mjs", ".cjs", ""]) {
    const file = base + ext;
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) continue;
    const esm = ext === ".mjs" || (ext === ".js" && isModuleTree(path.dirname(file)));
    if (esm) return import(pathToFileURL(file).href);
    try {
      return createRequire(file)(file);
    } catch (err) {
      if (err && err.code === "ERR_REQUIRE_ESM") return import(pathToFileURL(file).href);
      throw err;
    }
  }
  // Not a file of the task root: a package by name (node_modules, NODE_PATH), as AWS allows.
  const require = createRequire(path.join(TASK_ROOT, "index.js"));
  try {
    return require(modulePath);
  } catch (err) {
    if (err && err.code === "ERR_REQUIRE_ESM") {
      return import(pathToFileURL(require.resolve(modulePath)).href);
    }
    if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(`'${modulePath}'`)) {
      throw new RuntimeError("Runtime.ImportModuleError",
        `Error: Cannot find module '${modulePath}'\nRequire stack:\n- /var/runtime/index.mjs`);
    }
    throw err;
  }
}

async function loadHandler(spec) {
  // As AWS splits it: the module is everything up to the first dot after the last slash,
  // the rest a path of exports (`index.nested.handler`).
  const slash = spec.lastIndexOf("/");
  const dot = spec.indexOf(".", slash + 1);
  if (dot <= slash + 1 || dot === spec.length - 1 || spec.includes("..")) {
    throw new RuntimeError("Runtime.MalformedHandlerName", "Bad handler");
  }
  const modulePath = spec.slice(0, dot);
  const exportPath = spec.slice(dot + 1);
  let loaded;
  try {
    loaded = await loadModule(modulePath);
  } catch (err) {
    if (err instanceof RuntimeError) throw err;
    if (err instanceof SyntaxError) {
      throw new RuntimeError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`);
    }
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      throw new RuntimeError("Runtime.ImportModuleError", `Error: ${err.message}`);
    }
    throw err;
  }
  const find = (root) => exportPath.split(".").reduce((v, p) => (v == null ? undefined : v[p]), root);
  let handler = find(loaded);
  if (handler === undefined && loaded && typeof loaded.default === "object") {
    handler = find(loaded.default);  // a CommonJS module imported as an ES module
  }
  const name = `${path.basename(modulePath)}.${exportPath}`;
  if (handler === undefined) {
    throw new RuntimeError("Runtime.HandlerNotFound", `${name} is undefined or not exported`);
  }
  if (typeof handler !== "function") {
    throw new RuntimeError("Runtime.HandlerNotFound", `${name} is not a function`);
  }
  const isAsync = handler.constructor && handler.constructor.name === "AsyncFunction";
  if (MAJOR >= 24 && handler.length >= 3 && !isAsync && handler[STREAMING] !== "response") {
    throw new RuntimeError("Runtime.CallbackHandlerDeprecated",
      "ERROR: AWS Lambda has removed support for callback-based function handlers starting "
      + "with Node.js 24. You need to modify this function to use a supported handler "
      + "signature to use Node.js 24 or later. For more information see "
      + "https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.");
  }
  return handler;
}

// ----- the event loop's end: what a waiting invocation does then ----------------------------------
// One listener, for the process's whole life; each invocation sets what it means (AWS's
// "default exit listener"): a callback's answer once the loop is empty, or null / an error
// for a handler that ended without answering.
let onEmptyLoop = undefined;
process.on("beforeExit", () => {
  const action = onEmptyLoop;
  onEmptyLoop = undefined;
  if (action) action();
});

// ----- one invocation -------------------------------------------------------------------------
function parseHeader(headers, name) {
  try { return headers[name] ? parseJson(headers[name]) : undefined; } catch { return undefined; }
}

async function invokeOnce(handler, next) {
  const headers = next.headers;
  const requestId = headers["lambda-runtime-aws-request-id"];
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  currentRequestId = requestId;
  if (headers["lambda-runtime-trace-id"]) {
    process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  let settle;
  const outcome = new Promise((resolve) => { settle = resolve; });
  let answered = false;
  // The first answer wins (a callback, a context method or the handler's promise); a
  // callback's success waits for the empty event loop unless told not to.
  const answer = (err, result, waits) => {
    if (answered) return;
    answered = true;
    const post = () => settle({ err, result });
    if (waits && (err === null || err === undefined)) onEmptyLoop = post;
    else { onEmptyLoop = undefined; post(); }
  };
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parseHeader(headers, "lambda-runtime-client-context"),
    identity: parseHeader(headers, "lambda-runtime-cognito-identity"),
    tenantId: headers["lambda-runtime-aws-tenant-id"],
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  const callback = (err, result) => answer(err, result, context.callbackWaitsForEmptyEventLoop);
  context.done = callback;
  context.succeed = (result) => callback(null, result);
  context.fail = (err) => callback(err ?? "handled");
  currentInvoke = { requestId };
  let event;
  try {
    event = parseJson(next.body.toString("utf8") || "{}");
  } catch (err) {
    answer(new RuntimeError("Runtime.UnmarshalError", `Unable to parse input as json: ${err.message}`));
  }
  if (!answered && handler[STREAMING] === "response") {
    await invokeStreaming(handler, event, context, requestId);
    currentInvoke = undefined;
    return;
  }
  if (!answered) {
    // Until something answers: once the event loop is empty, a plain handler's answer is
    // null; an async one that never settled has ended without a reason.
    onEmptyLoop = () => answer(null, null, false);
    try {
      const returned = handler(event, context, callback);
      if (returned && typeof returned.then === "function") {
        if (!answered) {  // a callback that already answered keeps its own wait
          onEmptyLoop = () => answer(new RuntimeError("Runtime.NodeJsExit",
            "Runtime exited without providing a reason"), undefined, false);
        }
        returned.then((result) => answer(null, result, false),
                      (err) => answer(err ?? "handled", undefined, false));
      }
    } catch (err) {
      answer(err, undefined, false);
    }
  }
  const { err, result } = await outcome;
  currentInvoke = undefined;
  try {
    if (err !== null && err !== undefined) {
      const doc = errorDoc(err);
      logError(doc, err);
      await postError(`/invocation/${requestId}/error`, doc);
      return;
    }
    let payload;
    try {
      payload = result === undefined ? "null" : stringify(result);
      if (payload === undefined) payload = "null";
    } catch (e) {
      const doc = { errorType: "Error", errorMessage: "Unable to stringify response body",
                    trace: String(e.stack || "").split("\n") };
      logError(doc);
      await postError(`/invocation/${requestId}/error`, doc);
      return;
    }
    await request("POST", `/invocation/${requestId}/response`, payload,
                  { "Content-Type": "application/json" });
  } catch (e) {  // the answer itself failed: the invocation gets firebox's own error
    const doc = { errorType: "Runtime.ResponseError", errorMessage: String(e && e.message),
                  trace: [] };
    await postError(`/invocation/${requestId}/error`, doc, true).catch(() => exit(129));
  }
}

async function invokeStreaming(handler, event, context, requestId) {
  const stream = new ResponseStream(requestId);
  try {
    if (handler.constructor?.name !== "AsyncFunction") {  // as AWS checks it, before running
      throw new RuntimeError("Runtime.MalformedStreamingHandler",
        "Streaming does not support non-async handlers.");
    }
    await handler(event, stream, context);
    // firebox ends what the handler left open (AWS would wait for the timeout)
    if (!stream.writableEnded && !stream.destroyed) stream.end();
  } catch (err) {
    const doc = errorDoc(err);
    logError(doc, err);
    if (!stream.request) {  // nothing sent yet: an ordinary function error
      await postError(`/invocation/${requestId}/error`, doc);
      return;
    }
    stream.fail(doc);  // ends where it was, the error in the trailers
  }
  await stream.answered;
}

// ----- crashes that end the environment, as on Lambda -------------------------------------------
let currentInvoke = undefined;

function fatal(type, err) {
  const doc = errorDoc(err);
  if (type === "Runtime.UnhandledPromiseRejection") {
    doc.errorType = type;
    doc.errorMessage = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  logError(doc, err);
  const route = currentInvoke ? `/invocation/${currentInvoke.requestId}/error` : "/init/error";
  setTimeout(() => exit(128), 500).unref();  // whatever happens to the report
  postError(route, doc, true).finally(() => exit(128));
}

process.on("unhandledRejection", (reason) => fatal("Runtime.UnhandledPromiseRejection", reason));
process.on("uncaughtException", (err) => fatal("Runtime.UncaughtException", err));

// ----- the loop -------------------------------------------------------------------------------
async function main() {
  patchConsole();
  let handler;
  try {
    handler = await loadHandler(process.env._HANDLER || "");
  } catch (err) {
    const doc = errorDoc(err);
    logError(doc);
    await postError("/init/error", doc);
    exit(129);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) {
      process.stderr.write(`firebox runtime: /next answered ${next.status}\n`);
      exit(1);
    }
    await invokeOnce(handler, next);
  }
}

main();

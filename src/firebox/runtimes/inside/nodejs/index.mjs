// firebox's Runtime API client for Node.js: small, dependency-free, speaking the Lambda
// Runtime API at AWS_LAMBDA_RUNTIME_API as AWS's own client does. It loads the handler
// (CommonJS or ES module, top-level await), runs each invocation (async or callback
// handlers), formats console output and errors as AWS's Node runtime does.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { createRequire } from "node:module";
import { Writable } from "node:stream";
import { pathToFileURL } from "node:url";

const API = process.env.AWS_LAMBDA_RUNTIME_API || "127.0.0.1:9001";
const [HOST, PORT] = API.includes(":") ? API.split(":") : [API, "80"];
const PREFIX = "/2018-06-01/runtime";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const MAJOR = Number(process.versions.node.split(".")[0]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// ----- the Runtime API ------------------------------------------------------------------------
function request(method, route, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request(
      { host: HOST, port: PORT, method, path: PREFIX + route, agent,
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
    if (data) req.write(data);
    req.end();
  });
}

function postError(route, error) {
  return request("POST", route, JSON.stringify(error), {
    "Content-Type": "application/json",
    "Lambda-Runtime-Function-Error-Type": error.errorType,
  });
}

// ----- console output, as AWS's Node runtime writes it ----------------------------------------
let currentRequestId = undefined;

function patchConsole() {
  const levels = { log: "INFO", info: "INFO", debug: "DEBUG", warn: "WARN", error: "ERROR",
                   trace: "TRACE", fatal: "FATAL" };
  for (const [method, level] of Object.entries(levels)) {
    if (method === "fatal") continue;
    console[method] = (...args) => {
      const line = `${new Date().toISOString()}\t${currentRequestId ?? "undefined"}\t${level}\t`
        + util.format(...args);
      process.stdout.write(line.replace(/\n/g, "\r") + "\n");
    };
  }
}

// ----- errors ---------------------------------------------------------------------------------
class FireboxRuntimeError extends Error {
  constructor(type, message, cause) {
    super(message);
    this.name = type;
    this.cause = cause;
  }
}

function errorDoc(err) {
  if (err instanceof Error) {
    const trace = (err.stack || "").split("\n");
    const doc = { errorType: err.name || "Error", errorMessage: err.message, trace };
    for (const key of Object.keys(err)) {
      if (!(key in doc) && key !== "cause" && key !== "name") doc[key] = err[key];
    }
    return doc;
  }
  if (err && typeof err === "object") {
    return { errorType: err.errorType || "object", errorMessage: err.errorMessage
             || JSON.stringify(err), trace: [] };
  }
  return { errorType: "string", errorMessage: String(err), trace: [] };
}

function logError(doc, requestId) {
  const text = `${new Date().toISOString()}\t${requestId ?? "undefined"}\tERROR\t`
    + `${doc.errorType === "string" ? "Invoke Error" : doc.errorType} \t`
    + JSON.stringify(doc);
  process.stdout.write(text.replace(/\n/g, "\r") + "\n");
}

// ----- response streaming (awslambda.streamifyResponse) ---------------------------------------
const STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");
const HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response";

// The stream a streaming handler writes: each write goes out at once as one chunk of the
// Runtime API's streaming response (chunked POST), opened at the first write or the end.
class ResponseStream extends Writable {
  constructor(requestId) {
    super();
    this.requestId = requestId;
    this.contentType = "application/octet-stream";
    this.request = undefined;
    this.answered = new Promise((resolve) => { this.answer = resolve; });
  }

  setContentType(type) { this.contentType = type; }

  _open() {
    if (this.request) return this.request;
    this.request = http.request({
      host: HOST, port: PORT, method: "POST", agent,
      path: `${PREFIX}/invocation/${this.requestId}/response`,
      headers: { "Lambda-Runtime-Function-Response-Mode": "streaming",
                 "Transfer-Encoding": "chunked", "Content-Type": this.contentType },
    }, (res) => { res.resume(); res.on("end", () => this.answer(res.statusCode)); });
    this.request.on("error", (err) => this.answer(err));
    this.request.flushHeaders();
    return this.request;
  }

  _write(chunk, encoding, callback) {
    if (chunk.length === 0) return callback();
    this._open().write(chunk, callback);
  }

  _final(callback) {
    this._open().end(callback);
  }
}

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = "response";
    return handler;
  },
  HttpResponseStream: {
    // The HTTP status, headers and cookies of a function URL's streamed response: a JSON
    // prelude and eight NUL bytes before the body, in one chunk.
    from(stream, metadata) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(Buffer.concat([Buffer.from(JSON.stringify(metadata ?? {})), Buffer.alloc(8)]));
      return stream;
    },
  },
};

async function invokeStreaming(handler, event, context, requestId) {
  const stream = new ResponseStream(requestId);
  try {
    await handler(event, stream, context);
    if (!stream.writableEnded) stream.end();
  } catch (err) {
    const doc = errorDoc(err);
    logError(doc, requestId);
    if (!stream.request) {  // nothing sent yet: an ordinary function error
      await postError(`/invocation/${requestId}/error`, doc);
      return;
    }
    if (!stream.writableEnded) stream.end();  // mid-stream: the stream ends where it was
  }
  await stream.answered;
}

// ----- loading the handler --------------------------------------------------------------------
function isModuleTree(dir) {
  // The nearest package.json at or above the file (within the task root) says its type.
  let at = dir;
  for (;;) {
    const pkg = path.join(at, "package.json");
    if (fs.existsSync(pkg)) {
      try { return JSON.parse(fs.readFileSync(pkg, "utf8")).type === "module"; }
      catch { return false; }
    }
    if (at === TASK_ROOT || at === path.dirname(at)) return false;
    at = path.dirname(at);
  }
}

async function loadModule(modulePath) {
  const base = path.resolve(TASK_ROOT, modulePath);
  for (const ext of [".js", ".mjs", ".cjs"]) {
    const file = base + ext;
    if (!fs.existsSync(file)) continue;
    const esm = ext === ".mjs" || (ext === ".js" && isModuleTree(path.dirname(file)));
    if (esm) return import(pathToFileURL(file).href);
    return createRequire(file)(file);
  }
  // Not a file of the task root: a package by name (node_modules, NODE_PATH), as AWS allows.
  try {
    return createRequire(path.join(TASK_ROOT, "index.js"))(modulePath);
  } catch (err) {
    if (err && err.code === "ERR_REQUIRE_ESM") return import(modulePath);
    if (err && err.code === "MODULE_NOT_FOUND" && String(err.message).includes(`'${modulePath}'`)) {
      throw new FireboxRuntimeError("Runtime.ImportModuleError",
        `Error: Cannot find module '${modulePath}'\nRequire stack:\n- /var/runtime/index.mjs`);
    }
    throw err;
  }
}

async function loadHandler(spec) {
  const dot = spec.lastIndexOf(".");
  const slash = spec.lastIndexOf("/");
  if (dot <= slash + 0 || dot === -1) {
    throw new FireboxRuntimeError("Runtime.MalformedHandlerName", "Bad handler");
  }
  const modulePath = spec.slice(0, dot);
  const exportPath = spec.slice(dot + 1);
  let loaded;
  try {
    loaded = await loadModule(modulePath);
  } catch (err) {
    if (err instanceof FireboxRuntimeError) throw err;
    if (err instanceof SyntaxError) {
      throw new FireboxRuntimeError("Runtime.UserCodeSyntaxError", `${err.name}: ${err.message}`, err);
    }
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      throw new FireboxRuntimeError("Runtime.ImportModuleError", `Error: ${err.message}`, err);
    }
    throw err;
  }
  let handler = loaded;
  for (const part of exportPath.split(".")) {
    handler = handler == null ? undefined : handler[part];
  }
  if (handler === undefined && loaded && loaded.default && typeof loaded.default === "object") {
    handler = exportPath.split(".").reduce((v, p) => (v == null ? undefined : v[p]), loaded.default);
  }
  if (handler === undefined) {
    throw new FireboxRuntimeError("Runtime.HandlerNotFound",
      `${path.basename(modulePath)}.${exportPath} is undefined or not exported`);
  }
  if (typeof handler !== "function") {
    throw new FireboxRuntimeError("Runtime.HandlerNotFound",
      `${path.basename(modulePath)}.${exportPath} is not a function`);
  }
  if (handler.length >= 3 && MAJOR >= 24 && handler[STREAMING] !== "response") {
    throw new FireboxRuntimeError("Runtime.CallbackHandlerDeprecated",
      "ERROR: AWS Lambda has removed support for callback-based function handlers starting "
      + "with Node.js 24. You need to modify this function to use a supported handler "
      + "signature to use Node.js 24 or later. For more information see "
      + "https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.");
  }
  return handler;
}

// ----- one invocation -------------------------------------------------------------------------
function contextFor(headers, done) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const parse = (name) => {
    try { return headers[name] ? JSON.parse(headers[name]) : undefined; } catch { return undefined; }
  };
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: parse("lambda-runtime-client-context"),
    identity: parse("lambda-runtime-cognito-identity"),
    tenantId: headers["lambda-runtime-aws-tenant-id"],
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    // the legacy ways of ending an invocation
    done: (err, result) => done(err, result),
    succeed: (result) => done(null, result),
    fail: (err) => done(err ?? "handled", undefined),
  };
  return context;
}

async function invokeOnce(handler, next) {
  const headers = next.headers;
  const requestId = headers["lambda-runtime-aws-request-id"];
  currentRequestId = requestId;
  if (headers["lambda-runtime-trace-id"]) {
    process.env._X_AMZN_TRACE_ID = headers["lambda-runtime-trace-id"];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  let settle;
  const outcome = new Promise((resolve) => { settle = resolve; });
  let finished = false;
  const done = (err, result) => {
    if (finished) return;
    finished = true;
    settle({ err, result });
  };
  const context = contextFor(headers, done);
  let event;
  try {
    event = JSON.parse(next.body.toString("utf8") || "{}");
  } catch (err) {
    done(new FireboxRuntimeError("Runtime.UnmarshalError", `Unable to parse input as json: ${err.message}`));
  }
  currentInvoke = { requestId, done };
  if (!finished && handler[STREAMING] === "response") {
    await invokeStreaming(handler, event, context, requestId);
    currentInvoke = undefined;
    return;
  }
  if (!finished) {
    try {
      const returned = handler(event, context, (err, result) => {
        // A callback handler: with callbackWaitsForEmptyEventLoop (the default), the answer
        // goes once the event loop has nothing left, as on Lambda.
        if (context.callbackWaitsForEmptyEventLoop) {
          process.once("beforeExit", () => done(err, result));
        } else {
          done(err, result);
        }
      });
      if (returned && typeof returned.then === "function") {
        returned.then((result) => done(null, result), (err) => done(err ?? "rejected"));
      } else if (handler.length < 3) {
        done(null, returned);
      }
    } catch (err) {
      done(err);
    }
  }
  const { err, result } = await outcome;
  currentInvoke = undefined;
  if (err !== null && err !== undefined) {
    const doc = errorDoc(err);
    logError(doc, requestId);
    await postError(`/invocation/${requestId}/error`, doc);
    return;
  }
  let payload;
  try {
    payload = result === undefined ? "null" : JSON.stringify(result);
    if (payload === undefined) payload = "null";
  } catch (e) {
    const doc = { errorType: "Runtime.MarshalError", errorMessage: `Unable to stringify response body: ${e.message}`, trace: [] };
    logError(doc, requestId);
    await postError(`/invocation/${requestId}/error`, doc);
    return;
  }
  await request("POST", `/invocation/${requestId}/response`, payload,
                { "Content-Type": "application/json" });
}

// ----- crashes that end the environment, as on Lambda -------------------------------------------
let currentInvoke = undefined;

function fatal(type, err) {
  const doc = errorDoc(err);
  if (type === "Runtime.UnhandledPromiseRejection") {
    doc.errorType = type;
    doc.errorMessage = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  logError(doc, currentInvoke?.requestId);
  const route = currentInvoke ? `/invocation/${currentInvoke.requestId}/error` : "/init/error";
  postError(route, doc).finally(() => process.exit(129));
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
    logError(doc, undefined);
    await postError("/init/error", doc);
    process.exit(129);
  }
  for (;;) {
    const next = await request("GET", "/invocation/next");
    if (next.status !== 200) {
      process.stderr.write(`firebox runtime: /next answered ${next.status}\n`);
      process.exit(1);
    }
    await invokeOnce(handler, next);
  }
}

main();

"""firebox's Python runtime: speaks the Lambda Runtime API and calls the user's handler.

Runs inside every Python execution environment, under the function's own interpreter
(python3.8 and newer), so it uses the standard library only.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback

API_PREFIX = "/2018-06-01/runtime"


class RuntimeClient:
    """A keep-alive HTTP/1.1 client for the Runtime API.

    Hand-written on a socket because http.client imports email and ssl, which cost about
    40 ms of every cold start; the Runtime API always answers with a Content-Length.
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host = host
        # connect() on an IP address skips getaddrinfo() and its idna codec (~4 ms to import).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.connect((host, int(port)))
        # Small request/response pairs: never wait for delayed ACKs.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def _request(self, method: str, path: str, body: bytes = b"", headers=None):
        if method == "POST":
            # Whatever the handler printed belongs to this invocation: out before the result.
            sys.stdout.flush()
            sys.stderr.flush()
        head = [f"{method} {API_PREFIX}{path} HTTP/1.1", f"Host: {self._host}",
                f"Content-Length: {len(body)}"]  # fmt: skip
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}")
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        return self._read_response()

    def _read_response(self):
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            self._buffer = rest
            self._fill()
            rest = self._buffer
        self._buffer = rest[length:]
        return status, headers, rest[:length]

    def _fill(self) -> None:
        chunk = self._sock.recv(262144)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self._buffer += chunk

    def next(self):
        return self._request("GET", "/invocation/next")

    def post_response(self, request_id: str, body: bytes) -> int:
        return self._request("POST", f"/invocation/{request_id}/response", body)[0]

    def post_stream(self, request_id: str, chunks) -> int:
        """Streams a response: each chunk is sent as the handler produces it (chunked encoding,
        the Runtime API's streaming response mode)."""
        sys.stdout.flush()
        sys.stderr.flush()
        head = [f"POST {API_PREFIX}/invocation/{request_id}/response HTTP/1.1",
                f"Host: {self._host}", "Lambda-Runtime-Function-Response-Mode: streaming",
                "Transfer-Encoding: chunked", "Content-Type: application/octet-stream"]  # fmt: skip
        self._sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for chunk in chunks:
            if chunk:
                self._sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self._sock.sendall(b"0\r\n\r\n")
        return self._read_response()[0]

    def post_error(self, request_id: str, error: dict) -> int:
        return self._request(
            "POST",
            f"/invocation/{request_id}/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": error.get("errorType", "Unhandled")},
        )[0]

    def post_init_error(self, error: dict) -> int:
        return self._request(
            "POST",
            "/init/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": error.get("errorType", "Runtime.Unknown")},
        )[0]


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: dict | None) -> None:
        identity = identity or {}
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")


class Client:
    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )  # fmt: skip

    def __init__(self, client: dict) -> None:
        self.installation_id = client.get("installation_id")
        self.app_title = client.get("app_title")
        self.app_version_name = client.get("app_version_name")
        self.app_version_code = client.get("app_version_code")
        self.app_package_name = client.get("app_package_name")


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, context: dict) -> None:
        self.client = Client(context["client"]) if context.get("client") else None
        self.custom = context.get("custom")
        self.env = context.get("env")


class LambdaContext:
    """The context object handed to handlers, with the attributes AWS's runtime provides."""

    def __init__(self, request_id, deadline_ms, function_arn, client_context, identity, tenant_id):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity)
        self.tenant_id = tenant_id
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        """Writes to the function's log, as AWS's context.log does."""
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestIdFilter.request_id
        return True


_LOGGING = []  # the handler, once installed


def setup_logging() -> None:
    """The root logger handler AWS's runtime installs: level, UTC time, request id, message.

    A zygote installs it once, before it forks: a child that did it itself spent ~0.45 ms,
    mostly on copy-on-write faults of the logging module's objects. The handler writes to
    sys.stdout, which in each child is the environment's output.
    """
    if _LOGGING:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter())
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.terminator = ""  # the format ends the record with its own newline
    logging.getLogger().addHandler(handler)
    _LOGGING.append(handler)


# LoggingConfig's ApplicationLogLevel → the logging module's levels (TRACE is below DEBUG).
_LEVELS = {"TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
           "WARNING": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL,
           "CRITICAL": logging.CRITICAL}  # fmt: skip


# What every LogRecord has: anything else was passed in `extra=` and goes into the JSON.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "aws_request_id"}


class _JsonFormatter(logging.Formatter):
    """LoggingConfig's JSON format, as AWS's Python runtime (awslambdaric) writes a record."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc = {
            "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        request_id = getattr(record, "aws_request_id", None)
        if request_id:
            doc["requestId"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in doc:
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["errorType"] = record.exc_info[0].__name__
            doc["errorMessage"] = str(record.exc_info[1])
            doc["stackTrace"] = traceback.format_tb(record.exc_info[2])
        return json.dumps(doc, default=str) + "\n"


def _apply_log_level() -> None:
    """AWS_LAMBDA_LOG_LEVEL (a level the logging module knows), and LoggingConfig's JSON."""
    level = _LEVELS.get(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    if level is not None:  # others are ignored, as on AWS
        logging.getLogger().setLevel(level)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON" and _LOGGING:
        _LOGGING[0].setFormatter(_JsonFormatter())


class _Marshaller:
    """json.dumps plus AWS's handling of Decimal: written as its exact digits, not a float."""

    def __init__(self) -> None:
        # Decimals become unique placeholder strings, replaced by their digits afterwards.
        self._marker = "\x00" + os.urandom(8).hex() + ":"
        self._quoted = json.dumps(self._marker)[:-1]
        self._used = False

    def _default(self, obj: object) -> object:
        import decimal  # only needed when a result holds something json cannot encode

        if isinstance(obj, decimal.Decimal):
            self._used = True
            return self._marker + str(obj) + "\x00"
        raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")

    def dumps(self, result: object) -> bytes:
        if isinstance(result, (bytes, bytearray)):
            return bytes(result)  # passed through unchanged, as awslambdaric does
        self._used = False
        text = json.dumps(result, default=self._default)
        if self._used:
            end = json.dumps("\x00")[1:]
            parts = text.split(self._quoted)
            text = parts[0] + "".join(p.replace(end, "", 1) for p in parts[1:])
        return text.encode()


def _error(exc: BaseException, skip_frames: int = 1) -> dict:
    import traceback  # errors are the rare path: keep it off every cold start

    tb = exc.__traceback__
    for _ in range(skip_frames):  # hide the runtime's own frames, as AWS does
        if tb is not None:
            tb = tb.tb_next
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": _RequestIdFilter.request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(tb)),
    }


def _doc(error_type: str, message: str, request_id: str = "", trace: list | None = None) -> dict:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": trace or []}  # fmt: skip


def _log_error(error: dict) -> None:
    trace = "".join(error.get("stackTrace") or [])
    print(f"[ERROR] {error['errorType']}: {error['errorMessage']}{_sdk_hint(error)}\n"
          f"Traceback (most recent call last):\n{trace}", end="", flush=True)  # fmt: skip


_SDK_MISSING = ("No module named 'boto3'", "No module named 'botocore'",
                "No module named 's3transfer'")  # fmt: skip


def _sdk_hint(error: dict, version=sys.version_info) -> str:
    """Why the AWS SDK is missing, when a function failed for want of it (the log only: the
    error itself stays Lambda's)."""
    if not any(text in str(error.get("errorMessage")) for text in _SDK_MISSING):
        return ""
    if tuple(version[:2]) < (3, 10):
        return (f" (firebox: python{version[0]}.{version[1]} functions get no bundled AWS "
                "SDK, as current boto3 needs Python 3.10+; put boto3 in the package, e.g. "
                f"python{version[0]}.{version[1]} -m pip install boto3 -t ., or use "
                "python3.10 or newer)")  # fmt: skip
    return (" (firebox: the AWS SDK could not be bundled on this host, see the server's log; "
            "put boto3 in the package: pip install boto3 -t .)")  # fmt: skip


def _load_handler(spec: str):
    """Imports the handler module once; returns the callable or an init-error document."""
    try:
        modname, fname = spec.rsplit(".", 1)
    except ValueError as exc:
        return None, _doc("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}")
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        message = f"Unable to import module '{modname}': {exc}"
        return None, _doc("Runtime.ImportModuleError", message)
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text or ""}\n']
        message = f"Syntax error in module '{modname}': {exc}"
        return None, _doc("Runtime.UserCodeSyntaxError", message, trace=trace)
    except Exception as exc:
        return None, _error(exc, skip_frames=1)  # hides this loader's own frame
    handler = getattr(module, fname, None)
    if handler is None:
        message = f"Handler '{fname}' missing on module '{modname}'"
        return None, _doc("Runtime.HandlerNotFound", message)
    return handler, None


def _json_header(headers, name: str) -> dict | None:
    try:
        value = json.loads(headers[name]) if headers.get(name) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _setup_path() -> None:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    # Layers: /opt, or their host path when plain processes run the function (no mounts).
    opt = os.environ.pop("FIREBOX_OPT_ROOT", "/opt")
    front = [task_root, f"{opt}/python/lib/python{version}/site-packages", f"{opt}/python"]
    sys.path[:0] = [p for p in front if p not in sys.path]


def prepare(runtime_api: str | None = None) -> RuntimeClient | None:
    """Everything that does not depend on the function; a pre-built sandbox runs it early."""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    setup_logging()
    return RuntimeClient(runtime_api) if runtime_api else None


def _is_stream(result: object) -> bool:
    """A handler that yields (a generator or any iterator) streams its response."""
    return hasattr(result, "__next__") and not isinstance(result, (str, bytes, dict, list))


def _stream(client: RuntimeClient, request_id: str, result) -> None:
    """Sends what a streaming handler yields: bytes as they are, str as UTF-8, other values
    as JSON. An exception mid-stream ends the stream and is logged (the client has already
    received the start of the response, as with Lambda's streaming)."""

    def chunks():
        try:
            for item in result:
                if isinstance(item, (bytes, bytearray)):
                    yield bytes(item)
                elif isinstance(item, str):
                    yield item.encode()
                else:
                    yield json.dumps(item).encode()
        except Exception as exc:
            _log_error(_error(exc))

    client.post_stream(request_id, chunks())


def main(client: RuntimeClient | None = None) -> None:
    if client is None:
        client = prepare(os.environ["AWS_LAMBDA_RUNTIME_API"])
    assert client is not None
    _setup_path()
    _apply_log_level()
    handler, init_error = _load_handler(os.environ.get("_HANDLER", ""))
    if init_error is not None:
        _log_error(init_error)
        client.post_init_error(init_error)
        sys.exit(1)
    function_arn_default = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    marshaller = _Marshaller()
    while True:
        _status, headers, body = client.next()
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _RequestIdFilter.request_id = request_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        client_context = _json_header(headers, "lambda-runtime-client-context")
        identity = _json_header(headers, "lambda-runtime-cognito-identity")
        context = LambdaContext(
            request_id,
            int(headers.get("lambda-runtime-deadline-ms", "0")),
            headers.get("lambda-runtime-invoked-function-arn", function_arn_default),
            client_context,
            identity,
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            error = _doc("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}", request_id)
            _log_error(error)
            client.post_error(request_id, error)
            continue
        try:
            result = handler(event, context)
        except Exception as exc:
            error = _error(exc)
            _log_error(error)
            client.post_error(request_id, error)
            continue
        if _is_stream(result):
            _stream(client, request_id, result)
            continue
        try:
            payload = marshaller.dumps(result)
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            error = _doc("Runtime.MarshalError", message, request_id)
            _log_error(error)
            client.post_error(request_id, error)
            continue
        client.post_response(request_id, payload)

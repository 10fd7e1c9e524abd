"""An execution environment: a sandboxed runtime, its Runtime API, and its lifecycle.

States: STARTING (runtime initialising) → IDLE ⇄ BUSY → DEAD. An invocation may be assigned
while STARTING (a cold start); it is handed over when the runtime first asks for an event.
Every method is harmless on a DEAD environment, and no invocation outlives its environment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from firebox.auth.keys import AccessKey
from firebox.domain.records import FunctionRecord, utc_stamp
from firebox.runtimes.base import Launch, Runtime, has_libraries, layers_root
from firebox.sandboxes.base import Sandbox, SandboxFactory, SandboxSpec
from firebox.telemetry import logformat as logfmt
from firebox.telemetry.capture import LogRateLimit, OutputCapture
from firebox.telemetry.logstore import LogEvent, LogStore
from firebox.worker.admission import Lease
from firebox.worker.api_door import ApiDoor
from firebox.worker.extensions import (
    SHUTDOWN_GRACE_S,
    ExtensionError,
    Extensions,
    external_extensions,
    not_registered,
)
from firebox.worker.invocation import (
    MAX_STREAM_BYTES,
    Invocation,
    InvocationResult,
    as_error_body,
    describe_exit,
    error_payload,
    trace_id,
)
from firebox.worker.runtime_api import Responder, RuntimeApiConnection, error_body, status_body
from firebox.worker.telemetry_api import Telemetry

log = logging.getLogger("firebox.worker.environment")

MAX_RESPONSE_BYTES = 6291556  # Lambda's limit on a synchronous response
# Past this many lines an invocation keeps only those its 4 KB log tail needs (all are stored).
_TAIL_LINES = 1000


class EnvState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"  # its extensions were sent SHUTDOWN: gone when they are done
    DEAD = "dead"


@dataclass(frozen=True)
class EnvironmentContext:
    """What every environment of a server shares."""

    factory: SandboxFactory
    logs: LogStore
    region: str
    function_arn: Callable[[str], str]
    init_timeout_s: float
    # How a runtime starts, for code at a task root, in a sandbox that mounts or not (its
    # language's adapter: RuntimeRegistry.launch).
    launch: Callable[[Runtime, str, bool, int, Path | None], Launch]
    endpoint_url: str
    # Temporary credentials for a function's execution role (auth/sessions.py).
    credentials: Callable[[FunctionRecord], AccessKey]
    api_door: ApiDoor = field(default_factory=ApiDoor)
    # The host path of a function's layers merged as its /opt (None: it has none).
    opt_dir: Callable[[FunctionRecord], Path | None] = lambda record: None
    # Told of every line of a function's log as it is stored (EMF lines become metrics).
    on_lines: Callable[[list[tuple[int, str]]], None] | None = None


class Environment:
    """One execution environment of one function generation."""

    def __init__(
        self,
        env_id: str,
        record: FunctionRecord,
        runtime: Runtime,
        code_dir: Path,
        ctx: EnvironmentContext,
        on_dead: Callable[[Environment], None],
        provisioned: bool = False,
    ) -> None:
        self.id = env_id
        # Provisioned concurrency: initialised ahead of traffic, so no invoke reports its init.
        self.provisioned = provisioned
        self.ready = asyncio.Event()  # set when init is done (first /next) or it died
        self.record = record
        self.runtime = runtime
        self.code_dir = code_dir
        self.opt_dir = ctx.opt_dir(record)
        self.ctx = ctx
        self.state = EnvState.STARTING
        self.version = record.version
        self.log_group = record.log_group_name
        self.log_stream = logfmt.new_log_stream(self.version)
        self.current: Invocation | None = None
        self.invocations = 0
        self.retired = False
        self.lease: Lease | None = None  # admission's lease for the invocation it runs
        self.runtime_api_connections = 0
        self._on_dead = on_dead
        self._loop = asyncio.get_running_loop()
        self._sandbox: Sandbox | None = None
        self._output: OutputCapture | None = None
        self._log_limit = LogRateLimit()
        self._server: asyncio.Server | None = None
        self._api_server: asyncio.AbstractServer | None = None
        self._parked: Responder | None = None
        self._spawned_at = 0.0
        self._init_duration_ms: float | None = None
        self._init_reported = provisioned
        self._init_error: bytes | None = None
        self._init_lines: list[tuple[int, str]] = []
        self._ready = False  # the runtime has asked for its first event
        self._peak_mb = 0
        self.credentials_expire = 0.0  # epoch seconds: its credentials' end (renewed by pool)
        self.access_key_id = ""  # of its credentials: the only caller its AWS listener takes
        self._timer: asyncio.TimerHandle | None = None
        # The Extensions and Telemetry APIs: None until the function has an extension.
        self._extensions: Extensions | None = None
        self._telemetry: Telemetry | None = None
        # The runtime's answer, held until every extension is done with the invoke.
        self._held: tuple[bytes, str | None, str] | None = None
        self._response_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._sandbox.pid if self._sandbox else None

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Opens the Runtime API listener and starts the runtime (a cold start begins)."""
        factory = self.ctx.factory
        opt_root = layers_root(factory.mounts, self.opt_dir)
        launch: Launch | None = self.ctx.launch(
            self.runtime, factory.task_root(self.code_dir), factory.mounts,
            self.record.memory_size, self.opt_dir,
        )  # fmt: skip
        if launch is not None and self.runtime.language == "provided":
            launch = self._bootstrap(launch, opt_root)
        if launch is not None and any(
            has_libraries(tree) for tree in (self.code_dir, self.opt_dir) if tree is not None
        ):
            # The loader reads LD_LIBRARY_PATH (and which of its directories exist) only when
            # a process starts: a runtime started ahead, or from a zygote, would never search
            # this code's or these layers' lib/. Such functions get a process of their own.
            launch = dataclasses.replace(launch, zygote=None, early=False)
        if launch is None:
            self._init_error = error_payload(
                "Runtime.InvalidEntrypoint",
                "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
            )
            self.destroy()
            return
        # External extensions are started by the sandbox before the runtime takes its
        # environment: never in a runtime exec'd ahead ("early"), which would skip them.
        expected = external_extensions(self.opt_dir) if factory.mounts else []
        try:
            spec = SandboxSpec(
                env_id=self.id,
                argv=list(launch.argv),
                environ=self._environ(launch, opt_root),
                code_dir=self.code_dir,
                opt_dir=self.opt_dir,
                memory_mb=self.record.memory_size,
                ephemeral_storage_mb=self.record.ephemeral_storage,
                mounts=launch.mounts,
                zygote=launch.zygote,
                in_process=launch.in_process,
                label=self.record.name,
                early=launch.early
                and not expected
                and not any(
                    key.startswith(launch.read_at_start) for key in self.record.environment
                ),
            )
            self._spawned_at = time.monotonic()
            if expected:
                self._with_extensions(expected)
            sandbox = self.ctx.factory.create(spec)
            try:
                await sandbox.start()
            except OSError:
                # A pre-built sandbox that cannot take the function: build a fresh one.
                sandbox = self.ctx.factory.create(spec, prebuilt=False)
                await sandbox.start()
        except OSError as exc:
            self._init_error = error_payload(
                "Runtime.InvalidEntrypoint", f"Error: could not start the runtime: {exc}"
            )
            self.destroy()
            return
        self._sandbox = sandbox
        self._output = OutputCapture(sandbox.output_fd)
        self._loop.add_reader(sandbox.output_fd, self._on_output)
        self._loop.add_reader(sandbox.exit_fd, self.destroy)
        self._set_timer(self.ctx.init_timeout_s, self._on_init_timeout)
        try:
            sock = await sandbox.listener()
        except OSError as exc:
            self._init_error = error_payload("Runtime.Unknown", f"Error: sandbox failed: {exc}")
            self.destroy()
            return
        if self.state is EnvState.DEAD:
            sock.close()
            return
        self._server = await self._loop.create_server(lambda: RuntimeApiConnection(self), sock=sock)
        if self._dead():  # died meanwhile (the await let destroy() run): nobody else closes it
            self._server.close()
            return
        api = sandbox.api_listener()
        if api is not None:
            self._api_server = await self.ctx.api_door.serve(api, self.access_key_id)
            if self._api_server is not None and self._dead():
                self._api_server.close()

    def _dead(self) -> bool:
        return self.state is EnvState.DEAD

    def _with_extensions(self, expected: list[str]) -> Extensions:
        """The function has extensions: the Extensions and Telemetry APIs come to life."""
        if self._extensions is None:
            self._extensions = Extensions(expected)
            self._telemetry = Telemetry(self._address, time.time)
            init_type = "provisioned-concurrency" if self.provisioned else "on-demand"
            self._telemetry.emit("platform.initStart", {
                "initializationType": init_type, "phase": "init",
                "functionName": self.record.name, "functionVersion": self.version,
            })  # fmt: skip
        return self._extensions

    def _address(self) -> str | None:
        """Where the server reaches listeners inside the sandbox (sandbox.localdomain)."""
        return self._sandbox.inside_address if self._sandbox is not None else None

    def spin_down(self) -> None:
        """Retires an idle environment as Lambda does: extensions registered for SHUTDOWN get
        it, and up to two seconds to finish, before the sandbox goes."""
        extensions = self._extensions
        if self.state is EnvState.STOPPING:
            return  # on its way out already
        if (self.state is not EnvState.IDLE or extensions is None
                or not extensions.registered_for("SHUTDOWN")):  # fmt: skip
            self.destroy()
            return
        self.state = EnvState.STOPPING
        self._set_timer(SHUTDOWN_GRACE_S, self.destroy)
        self._loop.create_task(self._shutdown(extensions))

    async def _shutdown(self, extensions: Extensions) -> None:
        """What telemetry is buffered goes out first, then SHUTDOWN (within the grace)."""
        if self._telemetry is not None:
            await self._telemetry.drain(SHUTDOWN_GRACE_S / 4)
        if self.state is EnvState.STOPPING:
            deadline = int(time.time() * 1000 + SHUTDOWN_GRACE_S * 1000)
            extensions.send("SHUTDOWN", {"shutdownReason": "spindown", "deadlineMs": deadline})

    def _bootstrap(self, launch: Launch, opt_root: str) -> Launch | None:
        """A custom runtime's bootstrap: the code's own, else a layer's (as Lambda looks);
        None if neither has one."""
        if os.access(self.code_dir / "bootstrap", os.X_OK):
            return launch
        if self.opt_dir is not None and os.access(self.opt_dir / "bootstrap", os.X_OK):
            return dataclasses.replace(launch, argv=(f"{opt_root}/bootstrap",))
        return None

    def _environ(self, launch: Launch, opt_root: str) -> dict[str, str]:
        record = self.record
        credentials = self.ctx.credentials(record)
        self.credentials_expire = credentials.expires
        self.access_key_id = credentials.access_key_id
        environ = {
            "PATH": f"/usr/local/bin:/usr/bin/:/bin:{opt_root}/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LD_LIBRARY_PATH": launch.library_path,
            **record.environment,
            "_HANDLER": record.handler,
            "AWS_REGION": self.ctx.region,
            "AWS_DEFAULT_REGION": self.ctx.region,
            "AWS_LAMBDA_FUNCTION_NAME": record.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(record.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": self.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": (
                "provisioned-concurrency" if self.provisioned else "on-demand"
            ),
            "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_SESSION_TOKEN": credentials.session_token,
            "LAMBDA_TASK_ROOT": self.ctx.factory.task_root(self.code_dir),
            **launch.environ,  # the runtime's own: LAMBDA_RUNTIME_DIR, PYTHONPATH, …
        }
        if record.log_format == "JSON":  # LoggingConfig: the runtime formats and filters
            environ["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            environ["AWS_LAMBDA_LOG_LEVEL"] = record.application_log_level
        # Every SDK inside calls this firebox with no setup: the server's own port where the
        # sandbox reaches it, else the listener the sandbox holds for the AWS APIs.
        factory = self.ctx.factory
        if factory.reaches_host:
            environ.setdefault("AWS_ENDPOINT_URL", self.ctx.endpoint_url)
        elif factory.api_endpoint is not None and self.ctx.api_door.open:
            environ.setdefault("AWS_ENDPOINT_URL", factory.api_endpoint)
        return environ

    def destroy(self, cause: str | None = None) -> None:
        """Kills the sandbox and fails any invocation still in it (saying `cause`, when firebox
        itself ends it); idempotent, never raises."""
        if self.state is EnvState.DEAD:
            return
        self.state = EnvState.DEAD
        self._cancel_timer()
        self._parked = None
        status: int | None = None
        reason: str | None = None
        try:
            if self._sandbox is not None:
                self._loop.remove_reader(self._sandbox.output_fd)
                self._loop.remove_reader(self._sandbox.exit_fd)
                self._on_output(final=True)  # the last words, often the crash message
                if self._output is not None:
                    self._output.fd = -1  # closed below; the number may be reused at once
                status = self._sandbox.reap()
                reason = self._sandbox.exit_reason()
                self._peak_mb = self._sandbox.max_memory_mb()  # the cgroup goes with kill()
                self._sandbox.kill()
                if status is None:
                    status = self._sandbox.reap()
                if status is None and cause is not None:
                    status = -signal.SIGKILL  # killed just now, before its exit was collected
            if self._server is not None:
                self._server.close()
            if self._api_server is not None:
                self._api_server.close()
            if self._telemetry is not None:
                self._telemetry.close()
        except Exception:  # a failure to clean up must not leave a client waiting
            log.exception("environment %s: error while destroying", self.id)
        finally:
            try:
                self._fail_current(status, reason or cause)
            finally:
                self.ready.set()
                self._on_dead(self)

    def _fail_current(self, status: int | None, reason: str | None = None) -> None:
        inv = self.current
        if inv is None:
            return
        if self._held is not None:  # it had answered: the answer stands
            self._finish(*self._held)
            return
        if self._init_error is not None and not inv.delivered:
            self._finish(self._init_error, "Unhandled")
            return
        error_type = "Runtime.ExitError"
        if status not in (None, 0):
            what = f"Runtime exited with error: {describe_exit(status)}"
        else:
            what = "Runtime exited without providing a reason"
        if reason is not None:  # the sandbox knows more: the memory limit, typically
            error_type = "Runtime.OutOfMemory" if reason.startswith("out of memory") else error_type
            what += f" ({reason})"
        message = f"RequestId: {inv.request_id} Error: {what}"
        self._finish(error_payload(error_type, message), "Unhandled", log_extra=message)

    # ----- invocations -----------------------------------------------------------------------
    def assign(self, invocation: Invocation) -> None:
        """Gives the environment its next invocation (it must not be busy)."""
        if self.state is EnvState.DEAD:
            payload = self._init_error or error_payload(
                "Runtime.ExitError",
                f"RequestId: {invocation.request_id} Error: environment is gone",
            )
            invocation.future.set_result(self._result(invocation, payload, "Unhandled", "", None))
            return
        self.current = invocation
        self.invocations += 1
        if self.state is EnvState.IDLE:
            self.state = EnvState.BUSY
        if self._ready or self._extensions is None:
            parked, self._parked = self._parked, None
        else:  # it waits for its extensions' init: the event goes out once init is done
            parked = None
        if parked is not None and parked.open:
            self._deliver(parked)
        elif self.state is EnvState.BUSY:
            # A warm runtime that does not ask for the event in time fails it like a timeout.
            self._set_timer(self.record.timeout, self._on_timeout)

    def _deliver(self, responder: Responder) -> None:
        inv = self.current
        assert inv is not None
        self._on_output()  # output from before this event is not part of it
        inv.delivered_at = time.monotonic()
        inv.deadline_ms = int(time.time() * 1000) + self.record.timeout * 1000
        self._emit(inv, self._start_lines(inv))
        arn = inv.invoked_arn or self.ctx.function_arn(self.record.name)
        headers = [
            (b"Lambda-Runtime-Aws-Request-Id", inv.request_id.encode()),
            (b"Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms).encode()),
            (b"Lambda-Runtime-Invoked-Function-Arn", arn.encode()),
            (b"Lambda-Runtime-Trace-Id", (inv.trace_id or trace_id()).encode()),
        ]
        if inv.client_context:
            headers.append((b"Lambda-Runtime-Client-Context", inv.client_context.encode()))
        responder.send(200, inv.payload, headers)
        self._set_timer(self.record.timeout, self._on_timeout)
        if self._extensions is not None:
            tracing = {"type": "X-Amzn-Trace-Id", "value": headers[3][1].decode()}
            self._extensions.send("INVOKE", {
                "deadlineMs": inv.deadline_ms, "requestId": inv.request_id,
                "invokedFunctionArn": arn, "tracing": tracing,
            })  # fmt: skip
            if self._telemetry is not None:
                self._telemetry.emit("platform.start", {
                    "requestId": inv.request_id, "version": self.version, "tracing": tracing,
                })  # fmt: skip

    def _finish(self, payload: bytes, function_error: str | None, log_extra: str = "",
                wait: bool = False) -> None:  # fmt: skip
        """Ends the invocation; `wait`: the runtime answered, but the invocation ends only
        when every extension has asked for its next event (as on Lambda)."""
        inv = self.current
        if inv is None:
            return
        if wait and self._extensions is not None:
            self._on_output(inv=inv)  # its last lines come before platform.runtimeDone
            self._runtime_done(inv, function_error, len(payload))
            if not self._extensions.idle:
                self._held = (payload, function_error, log_extra)
                return
        self._held = None
        self.current = None
        self._cancel_timer()
        self._on_output(final=True, inv=inv)
        duration_ms = (time.monotonic() - inv.delivered_at) * 1000 if inv.delivered else 0.0
        init_lines: list[tuple[int, str]] = []
        if not inv.delivered:
            self._emit(inv, self._start_lines(inv))
            init_lines = self._init_lines  # why init failed belongs in this invocation's tail
        if log_extra:
            self._emit(inv, log_extra)
        init_ms = None
        if not self._init_reported and (self._init_duration_ms is not None or self._init_error):
            self._init_reported = True
            init_ms = self._init_duration_ms or (time.monotonic() - self._spawned_at) * 1000
        alive = self._sandbox is not None and self.state is not EnvState.DEAD
        max_mb = self._sandbox.max_memory_mb() if alive and self._sandbox else self._peak_mb
        memory = self.record.memory_size
        status = ("success" if function_error is None else
                  "timeout" if "Task timed out" in log_extra else "error")  # fmt: skip
        metrics = logfmt.report_metrics(duration_ms, memory, max_mb, init_ms)
        if self._telemetry is not None:
            record = {"requestId": inv.request_id, "status": status, "metrics": metrics}
            self._telemetry.emit("platform.report", record)
        now = int(time.time() * 1000)
        if self.record.log_format != "JSON":
            report = logfmt.report_line(inv.request_id, duration_ms, memory, max_mb, init_ms)
            self._emit(inv, [(now, logfmt.end_line(inv.request_id)), (now, report)])
        elif self.record.system_log_level != "WARN":  # platform lines are INFO
            done = {
                "requestId": inv.request_id,
                "status": status,
                "metrics": {"durationMs": metrics["durationMs"], "producedBytes": len(payload)},
            }
            report_doc = {"requestId": inv.request_id, "metrics": metrics, "status": status}
            self._emit(
                inv,
                [
                    (now, logfmt.platform_json("platform.runtimeDone", done)),
                    (now, logfmt.platform_json("platform.report", report_doc)),
                ],
            )
        log_text = "".join(line + "\n" for _ts, line in init_lines + inv.lines)
        if self.state is EnvState.BUSY:
            self.state = EnvState.IDLE
        if not inv.future.done():
            inv.future.set_result(
                self._result(inv, payload, function_error, log_text, init_ms, duration_ms)
            )

    def _runtime_done(self, inv: Invocation, error: str | None, size: int) -> None:
        self._response_at = time.monotonic()
        if self._telemetry is not None:
            took = (self._response_at - inv.delivered_at) * 1000
            self._telemetry.emit("platform.runtimeDone", {
                "requestId": inv.request_id, "status": "error" if error else "success",
                "metrics": {"durationMs": round(took, 3), "producedBytes": size},
            })  # fmt: skip

    def _start_lines(self, inv: Invocation) -> list[tuple[int, str]]:
        """START, or in the JSON log format platform.start (none when SystemLogLevel is WARN)."""
        now = int(time.time() * 1000)
        if self.record.log_format != "JSON":
            return [(now, logfmt.start_line(inv.request_id, self.version))]
        if self.record.system_log_level == "WARN":
            return []
        record = {"requestId": inv.request_id, "version": self.version}
        return [(now, logfmt.platform_json("platform.start", record))]

    def _result(self, inv: Invocation, payload: bytes, error: str | None, log_text: str,
                init_ms: float | None, duration_ms: float = 0.0) -> InvocationResult:  # fmt: skip
        return InvocationResult(payload, error, inv.request_id, log_text, self.version, self.id,
                                duration_ms, init_ms, self.provisioned)  # fmt: skip

    # ----- Runtime API callbacks -------------------------------------------------------------
    def on_next(self, responder: Responder) -> None:
        if self.state is EnvState.DEAD or self._init_error is not None:
            responder.send(403, error_body("Runtime.Dead", "environment is shutting down"))
            return
        if self.state is EnvState.STARTING:
            if self._extensions is not None and not self._extensions.ready:
                self._parked = responder  # init ends when the extensions are ready too
                return
            self._initialised()
        if self.current is not None and not self.current.delivered:
            self._deliver(responder)
        else:
            self._parked = responder

    def _initialised(self) -> None:
        """The runtime and every extension wait for their first event: init is done."""
        self._ready = True
        if self._sandbox is not None:
            self._sandbox.initialised()
        self._cancel_timer()
        self._init_duration_ms = (time.monotonic() - self._spawned_at) * 1000
        self.state = EnvState.BUSY if self.current else EnvState.IDLE
        self.ready.set()
        if self._extensions is not None:
            self._extensions.initialised = True
        if self._telemetry is not None:
            init_type = "provisioned-concurrency" if self.provisioned else "on-demand"
            done = {"initializationType": init_type, "phase": "init", "status": "success"}
            self._telemetry.emit("platform.initRuntimeDone", done)
            self._telemetry.emit("platform.initReport", {
                **done, "metrics": {"durationMs": round(self._init_duration_ms, 3)}})  # fmt: skip
            self._telemetry.end_history()

    # ----- Extensions and Telemetry API callbacks ------------------------------------------
    def on_extension_register(
        self, name: str, body: bytes, accept: str
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if self.state is not EnvState.STARTING:
            error = ExtensionError(
                403, "Extension.InvalidState", "Extensions can register only during the Init phase"
            )
            return error.status, error.body(), []
        extensions = self._with_extensions([])
        try:
            extension = extensions.register(name, body)
        except ExtensionError as exc:
            return exc.status, exc.body(), []
        if self._telemetry is not None:
            self._telemetry.emit("platform.extension", {
                "name": name, "state": "Ready", "events": sorted(extension.events)})  # fmt: skip
        about = {"functionName": self.record.name, "functionVersion": self.version,
                 "handler": self.record.handler}  # fmt: skip
        if "accountId" in accept:
            about["accountId"] = self.ctx.function_arn(self.record.name).split(":")[4]
        return 200, json.dumps(about).encode(), [(b"Lambda-Extension-Identifier",
                                                  extension.id.encode())]  # fmt: skip

    def on_extension_next(self, identifier: str, responder: Responder) -> None:
        try:
            if self._extensions is None or self.state is EnvState.DEAD:
                raise not_registered()
            extension = self._extensions.get(identifier)
        except ExtensionError as exc:
            responder.send(exc.status, exc.body())
            return
        self._extensions.wait(extension, responder)
        if self.state is EnvState.STARTING:
            parked = self._parked
            if parked is not None and self._extensions.ready:  # the runtime waits already
                self._parked = None
                self.on_next(parked)
        elif self._held is not None and self._extensions.idle:
            self._finish(*self._held)
        elif self.state is EnvState.STOPPING and self._extensions.idle:
            self.destroy()

    def on_extension_error(
        self, identifier: str, kind: str, error_type: str | None, body: bytes
    ) -> tuple[int, bytes]:
        try:
            if self._extensions is None:
                raise not_registered()
            extension = self._extensions.get(identifier)
        except ExtensionError as exc:
            return exc.status, exc.body()
        error_type = error_type or "Extension.UnknownReason"
        message = f"Extension {extension.name} reported {kind} error: {error_type}"
        self._store([(int(time.time() * 1000), message)])
        if kind == "init" and self.state is EnvState.STARTING:
            return self.on_init_error(error_body(error_type, message), error_type)
        # An extension that fails at run time takes the environment with it (Lambda resets it).
        if self._held is not None:
            self._finish(*self._held)
        elif self.current is not None:
            self._finish(error_payload(error_type, message), "Unhandled", log_extra=message)
        self._loop.call_soon(self.destroy)
        return 202, status_body("OK")

    def on_telemetry_subscribe(self, identifier: str, body: bytes) -> tuple[int, bytes]:
        try:
            if self._extensions is None or self._telemetry is None:
                raise not_registered()
            extension = self._extensions.get(identifier)
            self._telemetry.subscribe(extension.name, body)
        except ExtensionError as exc:
            return exc.status, exc.body()
        return 200, b"OK"

    def _check_request(self, request_id: str) -> tuple[int, bytes] | None:
        inv = self.current
        if inv is None or inv.request_id != request_id or not inv.delivered:
            return 400, error_body("InvalidRequestID", f"Invalid request ID: {request_id}")
        if self._held is not None:  # answered already: its extensions are finishing
            return 403, error_body("InvalidStateTransition", "the invocation has its response")
        return None

    def on_response(self, request_id: str, body: bytes, size: int) -> tuple[int, bytes]:
        problem = self._check_request(request_id)
        if problem:
            return problem
        if size > MAX_RESPONSE_BYTES:
            message = (
                f"Response payload size ({size} bytes) exceeded maximum allowed payload "
                f"size ({MAX_RESPONSE_BYTES} bytes)."
            )
            self._finish(error_payload("Function.ResponseSizeTooLarge", message), "Unhandled",
                         wait=True)  # fmt: skip
            return 413, error_body("RequestEntityTooLarge", message)
        self._finish(body, None, wait=True)
        return 202, status_body("OK")

    def on_stream_start(self, request_id: str, content_type: str) -> None:
        if self._check_request(request_id) is None and self.current is not None:
            self.current.start_stream(content_type)

    def on_stream_chunk(self, request_id: str, chunk: bytes) -> None:
        if self._check_request(request_id) is None and self.current is not None:
            self.current.add_chunk(chunk)

    def on_stream_end(
        self, request_id: str, error_type: str | None = None, error: bytes = b""
    ) -> tuple[int, bytes]:
        inv = self.current
        if (problem := self._check_request(request_id)) or inv is None:
            return problem or (400, b"")
        inv.end_stream()
        if error_type is not None:  # failed after it began: what was sent stays sent
            self._finish(as_error_body(error, error_type), "Unhandled", wait=True)
        elif inv.streamed_size > MAX_STREAM_BYTES:
            message = f"Response payload size exceeded maximum allowed size ({MAX_STREAM_BYTES})."
            self._finish(error_payload("Function.ResponseSizeTooLarge", message), "Unhandled",
                         wait=True)  # fmt: skip
        else:
            self._finish(b"".join(inv.streamed), None, wait=True)
        return 202, status_body("OK")

    def on_error(self, request_id: str, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        problem = self._check_request(request_id)
        if problem:
            return problem
        self._finish(as_error_body(body, error_type), "Unhandled", wait=True)
        return 202, status_body("OK")

    def on_init_error(self, body: bytes, error_type: str | None) -> tuple[int, bytes]:
        if self.state is not EnvState.STARTING:
            return 403, error_body("InvalidStateTransition", "init error after init")
        self._cancel_timer()
        self._init_error = as_error_body(body, error_type)
        self._init_duration_ms = (time.monotonic() - self._spawned_at) * 1000
        # Lambda discards an environment whose init failed; the next invoke starts afresh.
        self._loop.call_soon(self.destroy)
        return 202, status_body("OK")

    # ----- timers ----------------------------------------------------------------------------
    def _set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        inv = self.current
        if inv is None:
            return
        timeout = self.record.timeout
        message = f"{utc_stamp()} {inv.request_id} Task timed out after {timeout:.2f} seconds"
        if self._held is not None:
            # The function answered; an extension overran: the caller gets the answer, the
            # environment is reset (as on Lambda, where the answer went out already).
            payload, error, extra = self._held
            self._finish(payload, error, f"{extra}\n{message}".strip())
        else:
            self._finish(error_payload(None, message), "Unhandled", log_extra=message)
        self.destroy()

    def _on_init_timeout(self) -> None:
        self._timer = None
        if self.state is not EnvState.STARTING:
            return
        request_id = self.current.request_id if self.current else "-"
        limit = self.ctx.init_timeout_s
        message = f"{utc_stamp()} {request_id} Init timed out after {limit:.2f} seconds"
        self._init_error = error_payload("Runtime.InitTimeout", message)
        self._init_lines.append((int(time.time() * 1000), message))
        self.destroy()

    # ----- output ----------------------------------------------------------------------------
    def _on_output(self, final: bool = False, inv: Invocation | None = None) -> None:
        """Routes new output lines: to the invocation being run, else straight to the stream."""
        if self._output is None or self._output.fd < 0:
            return
        lines = self._log_limit.admit(self._output.drain(final))
        if self._output.eof:
            self._loop.remove_reader(self._output.fd)  # no busy loop on a closed pipe
        if not lines:
            return
        if self._telemetry is not None:
            as_json = self.record.log_format == "JSON"
            for stamp_ms, text in lines:
                self._telemetry.emit("function", _record(text, as_json), stamp_ms / 1000)
        target = inv or self.current
        if target is not None and target.delivered:
            self._emit(target, lines)
        else:
            if not self._ready:
                self._init_lines = (self._init_lines + lines)[-100:]
            self._store(lines)

    def _emit(self, inv: Invocation, lines: list[tuple[int, str]] | str) -> None:
        """Stores an invocation's log lines at once (so `logs --follow` shows a long one as it
        runs, and time order is ingestion order), keeping enough of them for its log tail."""
        if isinstance(lines, str):
            lines = [(int(time.time() * 1000), lines)]
        self._store(lines)
        inv.lines.extend(lines)
        if len(inv.lines) > _TAIL_LINES:  # bound memory for chatty functions
            del inv.lines[: -_suffix_for_tail(inv.lines)]

    def _store(self, lines: list[tuple[int, str]]) -> None:
        self.ctx.logs.append([LogEvent(self.log_group, self.log_stream, ts, t) for ts, t in lines])
        if self.ctx.on_lines is not None:
            self.ctx.on_lines(lines)


def _record(text: str, as_json: bool) -> object:
    """A log line as a telemetry `function` record: in the JSON format, the object it is."""
    if as_json and text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _suffix_for_tail(lines: list[tuple[int, str]], tail_bytes: int = 4096) -> int:
    """How many trailing lines to keep so the 4 KB log tail can still be built."""
    total = 0
    for count, (_ts, line) in enumerate(reversed(lines), start=1):
        total += len(line) + 1
        if total >= tail_bytes:
            return count
    return len(lines)

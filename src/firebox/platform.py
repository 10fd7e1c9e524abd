"""The composition root: builds every component from Settings and owns their lifetimes."""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Callable

from firebox.asyncinvoke.invoker import AsyncInvoker
from firebox.asyncinvoke.queue import SqliteEventQueue
from firebox.auth.keys import AccessKey, KeyStore
from firebox.auth.sessions import ENVIRONMENT_CREDENTIALS_S, SessionIssuer, role_session_arn
from firebox.auth.sigv4 import Verifier
from firebox.config import Settings
from firebox.control.catalog import Catalog
from firebox.control.changefeed import ChangeFeed
from firebox.control.concurrency import Concurrency
from firebox.control.event_configs import EventConfigs
from firebox.control.event_sources import EventSourceMapping, EventSourceMappings
from firebox.control.events import (
    EventBus,
    FunctionDeleted,
    FunctionDeployed,
    Invoked,
    VersionDeleted,
    on_deletions,
)
from firebox.control.function_urls import FunctionUrls
from firebox.control.functions import FunctionService
from firebox.control.http_routes import HttpRoutes
from firebox.control.layers import LayerService
from firebox.control.policies import FunctionPolicies
from firebox.control.releases import Releases
from firebox.control.rollouts import RolloutManager
from firebox.domain.arns import ArnBuilder, FunctionRef, parse_function_ref
from firebox.domain.errors import LambdaError
from firebox.domain.records import FunctionRecord
from firebox.eventbridge.service import EventService
from firebox.eventbridge.store import SqliteEventStore
from firebox.eventsources.manager import PollerManager
from firebox.iam.authorizer import Authorizer
from firebox.iam.policy import Principal
from firebox.iam.roles import Roles
from firebox.iam.store import SqliteRoleStore
from firebox.invoke.invoker import Invoker
from firebox.invoke.service import InvokeService
from firebox.metrics import billing, emf, gauges, prometheus
from firebox.metrics.lambda_metrics import LAMBDA, LambdaMeter, async_datums
from firebox.metrics.recorder import Recorder
from firebox.metrics.series import SeriesKey
from firebox.metrics.service import MetricsService
from firebox.metrics.store import SqliteMetricStore
from firebox.objects.delivery import NoticeForwarder
from firebox.objects.service import ObjectService
from firebox.objects.targets import S3Targets
from firebox.outbox import Forwarder
from firebox.queues.moves import MessageMoves
from firebox.queues.service import QueueService
from firebox.queues.store import SqliteQueueStore
from firebox.runtimes import sdk
from firebox.runtimes.base import Runtime, layers_root
from firebox.runtimes.registry import RUNTIME_DIR, RuntimeRegistry
from firebox.runtimes.sdk import INSIDE as SDK_INSIDE
from firebox.sandboxes import probe, reaper
from firebox.sandboxes.base import SandboxFactory
from firebox.sandboxes.isolated import IsolatedSandbox
from firebox.sandboxes.isolated_factory import IsolatedSandboxFactory
from firebox.sandboxes.reserve import SandboxReserve, Template
from firebox.sandboxes.zygotes import Zygotes
from firebox.scheduler.service import SchedulerService
from firebox.scheduler.store import SqliteScheduleStore
from firebox.sending import Senders
from firebox.stacks.artifacts import Artifacts
from firebox.stacks.engine import StackEngine
from firebox.stacks.kinds import all_kinds
from firebox.stacks.kinds.base import Services
from firebox.stacks.store import SqliteStackStore
from firebox.storage import SqliteFunctionStore
from firebox.telemetry.logstore import LogStore
from firebox.timing.ticker import Ticker
from firebox.topics.delivery import DeliveryForwarder
from firebox.topics.service import TopicService
from firebox.topics.store import SqliteTopicStore
from firebox.worker import keepalive
from firebox.worker.admission import Admission
from firebox.worker.api_door import ApiDoor
from firebox.worker.codestore import CodeStore
from firebox.worker.environment import EnvironmentContext
from firebox.worker.invocation import InvocationResult
from firebox.worker.pool import EnvironmentPool
from firebox.worker.precompile import Precompiler

log = logging.getLogger("firebox")
SNS_PRINCIPAL = "sns.amazonaws.com"


class Platform:
    """One firebox server's core, independent of the HTTP layer in front of it."""

    def __init__(self, settings: Settings, endpoint_url: str | None = None) -> None:
        # Absolute: sandboxes mount code from it after they have left the server's cwd.
        settings = dataclasses.replace(settings, data_dir=settings.data_dir.resolve())
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.arns = ArnBuilder(settings.region, settings.account_id)
        self.runtimes = RuntimeRegistry(settings.runtime_interpreters)
        self.store = SqliteFunctionStore(settings.db_path)
        self.logs = LogStore(settings.data_dir / "logs.sqlite3")
        self.keys = KeyStore(settings.data_dir)
        self.sessions = SessionIssuer(settings.data_dir)
        self.auth = Verifier(self.keys, self.sessions, settings.auth_mode)
        self.api_door = ApiDoor()  # the HTTP layer serves environments' AWS endpoint through it
        self.code = CodeStore(settings.code_dir)
        self.zygotes = Zygotes(RUNTIME_DIR) if settings.zygote else None
        self._warming: dict[str, asyncio.Task[object]] = {}
        self.sandbox_choice = probe.choose(
            settings.sandbox,
            settings.network,
            settings.data_dir,
            self.zygotes,
            sweep=True,  # a crashed predecessor's environments (same data dir) are ours to end
        )
        self.sandboxes: SandboxFactory = self.sandbox_choice.factory
        self.sdk = sdk.prepare(reaper.cache_dir(settings.data_dir), self.runtimes.interpreters())
        self.runtimes.python.sdk = self.sdk
        # Bytecode for interpreters other than the server's (whose .pyc files came along).
        self.sdk_compiler = (
            Precompiler(self.sdk.path.parent, lambda _: SDK_INSIDE) if self.sdk else None
        )
        self.reserve: SandboxReserve[IsolatedSandbox] | None = None
        factory = self.sandboxes
        if isinstance(factory, IsolatedSandboxFactory) and self.zygotes and settings.pool_size:
            self.reserve = factory.reserve = SandboxReserve(
                factory.prebuild, lambda: factory.starting > 0, self._prebuilt_runtime,
                minimum=settings.pool_size, budget_mb=settings.pool_budget_mb,
            )  # fmt: skip
        # Compiled once here so no environment pays for compiling the runtime at start.
        compileall.compile_dir(str(RUNTIME_DIR), quiet=1)
        self.precompiler = Precompiler(settings.code_dir, self.sandboxes.task_root)
        ctx = EnvironmentContext(
            factory=self.sandboxes,
            logs=self.logs,
            region=settings.region,
            function_arn=self.arns.function,
            init_timeout_s=settings.init_timeout_s,
            launch=self.runtimes.launch,
            endpoint_url=endpoint_url or f"http://{settings.host}:{settings.port}",
            credentials=self._role_credentials,
            api_door=self.api_door,
            opt_dir=lambda record: self.code.opt_tree([u.code_sha256 for u in record.layers]),
            on_lines=self._emf,
        )
        policy = keepalive.make(
            settings.keep_alive_policy, settings.keep_alive_s, settings.keep_alive_bin_s
        )
        self.admission = Admission(settings.concurrency_limit)
        self.pool = EnvironmentPool(ctx, self.admission, settings.keep_alive_s, policy)
        self.bus = EventBus()
        self.catalog = Catalog(self.store, self.code, self.runtimes, self.arns, self.bus)
        self.releases = Releases(self.catalog)
        self.layers = LayerService(self.catalog, lambda sha256: self.functions.collect(sha256))
        self.functions = FunctionService(
            self.catalog, self.releases, self.pool.code_in_use, self.layers.resolve
        )
        self.recorder = Recorder(SqliteMetricStore(settings.data_dir / "metrics.sqlite3"))
        self.recorder.enabled = settings.metrics
        self.metrics = MetricsService(self.recorder)
        self.prometheus = prometheus.registry(self.recorder)
        # What `firebox cost` prices usage with: AWS's prices, or the data dir's prices.json.
        prices_file = settings.data_dir / "prices.json"
        self.prices = billing.Prices.load(prices_file) if prices_file.exists() else billing.Prices()
        meter = LambdaMeter(
            self.recorder, reserved=lambda name: name in self.admission.reservations,
            provisioned=lambda name, qualifier: self.concurrency.utilization(name, qualifier),
        )  # fmt: skip
        self.invokes = InvokeService(self.catalog, Invoker(self.pool), self.bus,
                                     meter if settings.metrics else None)  # fmt: skip
        self.concurrency = Concurrency(self.catalog, self.functions, self.pool)
        self.rollouts = RolloutManager(self.catalog, self.releases)
        self.event_configs = EventConfigs(self.catalog)
        url_format = f"http://{{id}}.lambda-url.{settings.region}.localhost:{settings.port}/"
        self.function_urls = FunctionUrls(self.catalog, url_format)
        self.policies = FunctionPolicies(self.catalog)
        self.roles = Roles(SqliteRoleStore(settings.data_dir / "iam.sqlite3"), settings.account_id)
        self.iam = Authorizer(self.roles, settings.iam)
        self.sqs = QueueService(SqliteQueueStore(settings.data_dir / "sqs.sqlite3"),
                                settings.region, settings.account_id)  # fmt: skip
        self.sqs_moves = MessageMoves(self.sqs)
        self.mappings = EventSourceMappings(self.catalog, self.sqs)
        self.pollers = PollerManager(self.mappings, self.sqs, self._invoke_batch, settings.region)
        self.routes = HttpRoutes(self.catalog)
        self.queue = SqliteEventQueue(settings.queue_path)
        self.async_invoker = AsyncInvoker(
            self.invokes, self.queue, self.event_configs, settings.concurrency_limit,
            retry_delay_s=settings.async_retry_delay_s,
        )  # fmt: skip
        self.topics = TopicService(
            SqliteTopicStore(settings.data_dir / "sns.sqlite3"), settings.region,
            settings.account_id, endpoint=ctx.endpoint_url,
        )  # fmt: skip
        self.sns_deliveries = DeliveryForwarder(
            self.topics, self.async_invoker, self.sqs,
            lambda function, topic: self._service_may_invoke(SNS_PRINCIPAL, function, topic),
            settings.iam,
        )  # fmt: skip
        self.senders = Senders(self.async_invoker, self.sqs, self.topics,
                               self._service_may_invoke, settings.iam)  # fmt: skip
        self.events = EventService(SqliteEventStore(settings.data_dir / "events.sqlite3"),
                                   settings.region, settings.account_id)  # fmt: skip
        self.senders.bus = self.events
        self.async_invoker.sender = self.senders.send
        self.events_sends = Forwarder(self.events.pending, self.events.delivered,
                                      self.senders.deliver)  # fmt: skip
        self.events.on_sends = self.events_sends.wake
        self.events_ticker = Ticker(self.events.fire_due)
        self.logs_ticker = Ticker(self._purge_logs)  # retention: old events deleted hourly
        self.gauges = gauges.Gauges(self.recorder, self._queue_depths, self.s3_sizes,
                                    self._provisioned)  # fmt: skip
        self.metrics_ticker = Ticker(self._sample_metrics)
        self._metrics_flush: asyncio.Task[None] | None = None
        self._compacted = 0.0
        self.events.on_schedules = self.events_ticker.wake
        self.scheduler = SchedulerService(
            SqliteScheduleStore(settings.data_dir / "scheduler.sqlite3"), settings.region,
            settings.account_id,
        )  # fmt: skip
        self.scheduler_sends = Forwarder(self.scheduler.pending, self.scheduler.delivered,
                                         self.senders.deliver)  # fmt: skip
        self.scheduler.on_sends = self.scheduler_sends.wake
        self.scheduler_ticker = Ticker(self.scheduler.fire_due)
        self.scheduler.on_schedules = self.scheduler_ticker.wake
        self.s3 = ObjectService(settings.data_dir / "s3", settings.region)
        self.s3_targets = S3Targets(self.catalog, self.policies, self.async_invoker, self.sqs,
                                    settings.account_id, self.topics)  # fmt: skip
        self.s3.check_destinations = self.s3_targets.check
        self.s3.on_configured = self.s3_targets.test_events
        self.s3_notices = NoticeForwarder(self.s3, self.s3_targets.send)
        self.artifacts = Artifacts(settings.data_dir / "stacks" / "artifacts")
        self.stacks = StackEngine(SqliteStackStore(settings.data_dir / "stacks.sqlite3"),
                                  self._stack_services(), all_kinds())  # fmt: skip
        self.stacks.on_changed.append(
            lambda: self.artifacts.collect(self.stacks.artifacts_in_use())
        )
        self._subscribe()
        refresh_catalog = self.catalog.refresh
        self.feed = ChangeFeed(self.catalog, {
            "function": refresh_catalog, "version": refresh_catalog, "alias": refresh_catalog,
            "event_config": self.event_configs.refresh, "function_url": self.function_urls.refresh,
            "route": self.routes.refresh, "policy": self.policies.refresh,
            "mapping": self.mappings.refresh,
        })  # fmt: skip

    def _emf(self, lines: list[tuple[int, str]]) -> None:
        """A function's log lines in the Embedded Metric Format become metrics."""
        for received, text in lines:
            if emf.maybe_emf(text):
                for datum in emf.datums(text, received):
                    self.recorder.note(datum)

    def _observe_metrics(self) -> None:
        """The services that publish their own AWS namespaces' metrics, told where to."""
        put = self.recorder.put

        def service(namespace: str) -> Callable[[str, dict[str, str], float, str], None]:
            return lambda name, dims, value, unit: put(
                SeriesKey.of(namespace, name, dims), value, unit
            )

        self.sqs.observe = service("AWS/SQS")
        self.topics.observe = service("AWS/SNS")
        self.pollers.observe = lambda name, uuid, count: put(
            SeriesKey.of(LAMBDA, name, {"EventSourceMappingUUID": uuid}), count, "Count"
        )
        note = self.recorder.note

        def asynchronous(metric: str, function: str, qualifier: str | None, value: float) -> None:
            unit = "Milliseconds" if metric == "AsyncEventAge" else "Count"
            for datum in async_datums(metric, function, qualifier, value, unit, 0.0):
                note(datum)

        self.async_invoker.observe = asynchronous

    def _queue_depths(self) -> list[tuple[str, dict[str, str], float | None]]:
        now = time.time()
        out: list[tuple[str, dict[str, str], float | None]] = []
        for queue in self.sqs.queues():
            oldest = min((m.sent for m in queue.messages.values()), default=None)
            attributes = self.sqs.attributes(queue, ["All"])
            out.append((queue.name, attributes, None if oldest is None else now - oldest))
        return out

    def s3_sizes(self) -> list[tuple[str, int, int]]:
        return self.s3.bucket_sizes()

    def _provisioned(self) -> list[gauges.Provisioned]:
        out = []
        for name, qualifier, environments in self.concurrency.configured():
            try:
                record = self.catalog.deployed(FunctionRef(name, qualifier)).record
            except LambdaError:
                continue
            out.append(gauges.Provisioned(name, qualifier, environments, record.memory_size,
                                          record.architectures[0]))  # fmt: skip
        return out

    async def _sample_metrics(self, now: float) -> float:
        """Samples the gauges each minute; compacts stored metrics each hour."""
        next_at = await self.gauges.sample(now)
        if now - self._compacted >= 3600:
            self._compacted = now
            await asyncio.to_thread(self.recorder.store.compact, int(now))
        return next_at

    async def _purge_logs(self, now: float) -> float:
        """Deletes events their groups' retention no longer keeps; next time in an hour."""
        await asyncio.to_thread(self.logs.purge, int(now * 1000))
        return now + 3600.0

    def _stack_services(self) -> Services:
        """The services stacks are made with."""
        return Services(
            functions=self.functions, releases=self.releases, concurrency=self.concurrency,
            urls=self.function_urls, policies=self.policies, mappings=self.mappings,
            event_configs=self.event_configs, layers=self.layers, logs=self.logs,
            logs_changed=lambda: self.logs_ticker.wake(),
            routes=self.routes, queues=self.sqs, objects=self.s3, topics=self.topics,
            events=self.events, scheduler=self.scheduler, roles=self.roles,
            artifact=self.artifacts.get, region=self.settings.region,
            account=self.settings.account_id,
        )  # fmt: skip

    def _subscribe(self) -> None:
        """Who hears what: every consequence of a change to a function, in one place."""
        bus, pool = self.bus, self.pool
        # A changed $LATEST or version runs in fresh environments; the old ones retire.
        bus.subscribe(
            FunctionDeployed,
            lambda e: pool.retire(e.record.name, e.record.version, e.record.generation),
        )
        bus.subscribe(FunctionDeployed, self.concurrency.deployed)
        bus.subscribe(FunctionDeleted, lambda e: pool.retire(e.name))
        bus.subscribe(VersionDeleted, lambda e: pool.retire(e.name, e.version))
        for service in (self.concurrency, self.rollouts, self.async_invoker, self.event_configs,
                        self.function_urls, self.routes, self.policies,
                        self.mappings):  # fmt: skip
            on_deletions(bus, service.forget)
        bus.subscribe(Invoked, self.rollouts.observe)
        bus.subscribe(FunctionDeployed, self._check_role)
        pool.on_environment_dead.append(self.functions.environment_gone)
        pool.on_environment_dead.append(self.concurrency.environment_gone)

    def _check_role(self, event: FunctionDeployed) -> None:
        """A function whose role does not exist still runs; its owner hears about it."""
        record = event.record
        if self.settings.iam == "off" or record.version != "$LATEST":
            return
        if not self.roles.exists(record.role):
            log.warning(
                "function %s: its role %s does not exist in firebox's IAM (aws iam create-role): "
                "the function runs, and its calls are decided as its role's without policies "
                "(--iam %s)", record.name, record.role, self.settings.iam,
            )  # fmt: skip

    def _service_may_invoke(self, service: str, function_arn: str, source_arn: str) -> bool:
        """Whether a function's resource policy lets a service (sns.amazonaws.com…) invoke
        it for a source (a topic, a rule)."""
        try:
            ref = parse_function_ref(function_arn)
        except LambdaError:
            return False
        return self.policies.allows(ref.name, ref.qualifier, Principal("Service", service),
                                    source_arn, self.settings.account_id)  # fmt: skip

    async def _invoke_batch(self, mapping: EventSourceMapping, payload: bytes) -> InvocationResult:
        """An event source's batch, invoked synchronously as Lambda's pollers do."""
        return await self.invokes.invoke(mapping.ref, payload)

    def _role_credentials(self, record: FunctionRecord) -> AccessKey:
        """An environment's credentials: a session of its execution role named after it."""
        arn = role_session_arn(record.role, record.name, self.settings.account_id)
        return self.sessions.issue(arn, ENVIRONMENT_CREDENTIALS_S, "execution role")

    def start(self) -> None:
        """Loads stored functions; call from the event loop before serving."""
        if self.zygotes is not None and self.sandbox_choice.isolated:
            self.bus.subscribe(FunctionDeployed, self._warm_zygote)
        if self.settings.precompile:
            self.bus.subscribe(FunctionDeployed, self._precompile)
        if self.sdk is not None and self.sdk_compiler is not None:
            for interpreter in sorted(self.sdk.interpreters):
                self.sdk_compiler.want(self.sdk.path, interpreter)
        self.catalog.load()
        self.rollouts.load()
        self.event_configs.load()
        self.concurrency.load()
        self.function_urls.load()
        self.policies.load()
        self.sqs.load()
        self.mappings.load()
        self.topics.load()
        self.events.load()
        self.scheduler.load()
        swept = self.s3.load()
        if swept:
            log.info("object store: %d unfinished or orphaned files removed", swept)
        self.routes.load()
        self.feed.start()
        self.async_invoker.start()
        self.s3_notices.start()
        self.sns_deliveries.start()
        self.events_sends.start()
        self.events_ticker.start()
        self.logs_ticker.start()
        self._observe_metrics()
        self.metrics_ticker.start()
        self._metrics_flush = asyncio.get_running_loop().create_task(self.recorder.run())
        self.scheduler_sends.start()
        self.scheduler_ticker.start()
        self.pollers.start()
        if isinstance(self.sandboxes, IsolatedSandboxFactory):
            # Never more than could be in use at once.
            limit = self.settings.concurrency_limit
            self.sandboxes.start_netns(min(self.settings.netns_reserve, limit))
        if not self.sandbox_choice.isolated:
            reason = next(p.detail for p in self.sandbox_choice.protections if not p.active)
            log.warning(
                "\n*** firebox: ISOLATION IS OFF: functions run as plain processes with the "
                "server's privileges.\n*** why: %s\n*** run `firebox doctor` for details.\n",
                reason,
            )
        else:
            for gap in (p for p in self.sandbox_choice.protections if not p.active):
                # Isolated, but without this protection: said plainly, with what to do.
                advice = f"\n*** what to do: {gap.advice}" if gap.advice else ""
                log.warning("\n*** firebox: no %s protection: %s%s\n", gap.name, gap.detail,
                            advice)  # fmt: skip
        mode = self.settings.auth_mode
        log.warning(
            "firebox: signatures: %s (%s)", mode,
            "every request verified against `firebox keys`" if mode == "sigv4"
            else "any well-formed signature accepted: loopback development mode",
        )  # fmt: skip
        log.info(
            "firebox: %d functions, runtimes: %s, sandbox: %s",
            len(self.catalog.names()),
            ", ".join(self.runtimes.available()),
            self.sandboxes.name,
        )

    def _prebuilt_runtime(self, interpreter: str) -> Template:
        """What a sandbox pre-built for a zygote's interpreter mounts, and how it starts."""
        runtime = Runtime(interpreter, "python", interpreter)
        launch = self.runtimes.launch(runtime, "/var/task", mounted=True)
        return Template(launch.mounts, zygote=interpreter, in_process=launch.in_process)

    def prebuilt(self) -> int:
        """How many pre-built sandboxes are ready for assignment."""
        return self.reserve.size() if self.reserve is not None else 0

    def subnet(self) -> str | None:
        """The environments' subnet, when they reach out through the server's bridge."""
        factory = self.sandboxes
        net = factory.net if isinstance(factory, IsolatedSandboxFactory) else None
        return str(net.subnet) if net is not None else None

    def netns_ready(self) -> int:
        """How many network namespaces are made ahead, waiting for an environment."""
        factory = self.sandboxes
        netns = factory.netns if isinstance(factory, IsolatedSandboxFactory) else None
        return len(netns) if netns is not None else 0

    def _precompile(self, deployed: FunctionDeployed) -> None:
        """Compiles a package's bytecode ahead, for the interpreter that will run it."""
        if deployed.runtime is not None and deployed.runtime.is_python:
            self.precompiler.want(deployed.code_dir, deployed.runtime.interpreter)
            # and its layers' modules, in the tree its /opt shows
            opt = self.code.opt_tree([use.code_sha256 for use in deployed.record.layers])
            if opt is not None:
                inside = layers_root(self.sandboxes.mounts, opt)
                self.precompiler.want(opt, deployed.runtime.interpreter, inside)

    def _warm_zygote(self, deployed: FunctionDeployed) -> None:
        """Starts the zygote a runtime will need, so no invoke waits for its boot."""
        assert self.zygotes is not None
        runtime = deployed.runtime
        if runtime is None:
            return
        # Python runtimes start in their own interpreter's zygote; the others are exec'd from
        # the zygote of the server's own interpreter.
        interpreter = (runtime.interpreter if runtime.is_python else None) or sys.executable
        if self.reserve is not None and runtime.is_python and runtime.interpreter is not None:
            self.reserve.want(interpreter)
        if interpreter in self._warming or self.zygotes.running(interpreter):
            return
        task = asyncio.get_running_loop().create_task(self.zygotes.get(interpreter))
        self._warming[interpreter] = task
        task.add_done_callback(lambda done: self._warmed(interpreter, done))

    def _warmed(self, interpreter: str, task: asyncio.Task[object]) -> None:
        self._warming.pop(interpreter, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("zygote for %s did not start: %s", interpreter, task.exception())

    def stop_starting_work(self) -> int:
        """The server is stopping: no more queued Event invokes start, and rollouts pause.
        Returns how many invokes are still running."""
        self.async_invoker.stop_draining()
        self.pollers.close()  # no new batches; those in hand finish
        self.rollouts.close()
        return self.pool.busy

    def end_invokes(self, cause: str) -> int:
        """Ends every invoke still running: Event invokes go back to their queue unspent,
        the others fail as when their environment dies, saying `cause`. Returns how many
        callers were waiting."""
        self.async_invoker.cancel_attempts()
        return self.pool.end_all(cause)

    async def close(self) -> None:
        self.pollers.close()  # before the pool: no batch starts against a closing pool
        await self.feed.close()
        await self.s3_notices.close()
        await self.sns_deliveries.close()
        await self.events_ticker.close()
        await self.logs_ticker.close()
        await self.metrics_ticker.close()
        await self.events_sends.close()
        await self.scheduler_ticker.close()
        await self.scheduler_sends.close()
        self.rollouts.close()
        self.concurrency.close()
        self.precompiler.close()
        if self.sdk_compiler is not None:
            self.sdk_compiler.close()
        await self.async_invoker.close()
        await self.functions.close()
        self.pool.close()
        if self.reserve is not None:
            self.reserve.close()
        if self.zygotes is not None:
            self.zygotes.close()
        if isinstance(self.sandboxes, IsolatedSandboxFactory):
            self.sandboxes.close()
        self.logs.close()
        if self._metrics_flush is not None:
            self._metrics_flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._metrics_flush
        try:
            self.recorder.flush_now()  # what was recorded since the last flush
        except Exception:
            log.exception("metrics: the last batch could not be stored")
        self.recorder.store.close()
        self.queue.close()
        self.store.close()
        self.roles.store.close()
        self.sqs_moves.close()
        self.sqs.close()
        self.s3.close()
        self.topics.close()
        self.events.close()
        self.scheduler.close()
        self.stacks.store.close()

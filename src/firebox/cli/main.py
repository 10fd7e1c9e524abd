"""`firebox`: serve the platform, and manage and invoke functions through its API."""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import click

from firebox import __version__
from firebox.cli import rollouts
from firebox.cli.buckets import buckets
from firebox.cli.client import ApiClient, CliError, endpoint_option, parse_duration
from firebox.cli.deploy import deploy, info, print_config, remove
from firebox.cli.dev import dev
from firebox.cli.keys import keys
from firebox.cli.metrics import cost, metrics
from firebox.cli.queues import queue, queues


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="firebox")
def cli() -> None:
    """firebox: AWS-Lambda-compatible functions on your own machine."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="FIREBOX_HOST")
@click.option("--port", default=8070, show_default=True, type=int, envvar="FIREBOX_PORT")
@click.option("--data-dir", default=".firebox", show_default=True, envvar="FIREBOX_DATA_DIR",
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--region", default="us-east-1", show_default=True, envvar="FIREBOX_REGION")
@click.option(
    "--account-id", default="000000000000", show_default=True, envvar="FIREBOX_ACCOUNT_ID"
)
@click.option("--concurrency", type=int, default=None, envvar="FIREBOX_CONCURRENCY",
              help="Most environments busy at once (default: sized to memory).")  # fmt: skip
@click.option("--keep-alive", default="10m", show_default=True, envvar="FIREBOX_KEEP_ALIVE",
              help="Stop environments idle this long (30s, 10m, ...).")  # fmt: skip
@click.option("--init-timeout", default="10s", show_default=True, envvar="FIREBOX_INIT_TIMEOUT",
              help="Longest a runtime may take to initialise.")  # fmt: skip
@click.option("--runtime", "runtimes", multiple=True, metavar="NAME=INTERPRETER",
              help="Map a runtime to an interpreter: python3.12=/opt/bin/python3.12.")  # fmt: skip
@click.option(
    "--sandbox",
    default="auto",
    show_default=True,
    envvar="FIREBOX_SANDBOX",
    type=click.Choice(["auto", "isolated", "process"]),
    help="auto: isolate when the host allows it; isolated: refuse to start otherwise.",
)
@click.option(
    "--network",
    default="isolated",
    show_default=True,
    envvar="FIREBOX_NETWORK",
    type=click.Choice(["isolated", "host"]),
    help="isolated: no access to the host's services; host: share the host network.",
)
@click.option(
    "--zygote/--no-zygote",
    default=True,
    show_default=True,
    envvar="FIREBOX_ZYGOTE",
    help="Fork environments from pre-initialised interpreters (isolated sandboxes).",
)
@click.option(
    "--pool-size",
    default=2,
    show_default=True,
    envvar="FIREBOX_POOL_SIZE",
    type=click.IntRange(0, 1000),
    help="Pre-built isolated environments kept ready per runtime (grows with demand).",
)
@click.option("--pool-budget", default=256, show_default=True, envvar="FIREBOX_POOL_BUDGET",
              type=click.IntRange(1, 1 << 20),
              help="MB the pre-built environments may hold in all (as measured).")  # fmt: skip
@click.option("--netns-reserve", default=64, show_default=True, envvar="FIREBOX_NETNS_RESERVE",
              type=click.IntRange(0, 1000),
              help="Network namespaces made ahead (~220 KB, at most --concurrency).")  # fmt: skip
@click.option("--keep-alive-policy", default="fixed", show_default=True,
              envvar="FIREBOX_KEEP_ALIVE_POLICY", type=click.Choice(["fixed", "adaptive"]),
              help="adaptive: idle-time histograms decide keep-alive and pre-warm.")  # fmt: skip
@click.option("--keep-alive-bin", default="60s", show_default=True,
              envvar="FIREBOX_KEEP_ALIVE_BIN",
              help="Resolution of the adaptive policy's histograms (240 bins).")  # fmt: skip
@click.option("--precompile/--no-precompile", default=True, show_default=True,
              envvar="FIREBOX_PRECOMPILE",
              help="Compile Python modules once per package, not per cold start.")  # fmt: skip
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    envvar="FIREBOX_METRICS",
    help="Record CloudWatch metrics and usage (off: the API answers with no data).",
)
@click.option("--async-retry-delay", default="60s", show_default=True,
              envvar="FIREBOX_ASYNC_RETRY_DELAY",
              help="A failed Event invoke's retry n waits n × this (AWS: ~1 min).")  # fmt: skip
@click.option("--shutdown-timeout", default="10s", show_default=True,
              envvar="FIREBOX_SHUTDOWN_TIMEOUT",
              help="On stopping, how long invokes in flight may take to finish.")  # fmt: skip
@click.option("--max-header-size", default=65536, show_default=True,
              envvar="FIREBOX_MAX_HEADER_SIZE", type=click.IntRange(1024, 1 << 24),
              help="Bytes a request's header section may take (more: 431).")  # fmt: skip
@click.option("--header-timeout", default="10s", show_default=True,
              envvar="FIREBOX_HEADER_TIMEOUT",
              help="How long a request's headers may take to arrive (then 408).")  # fmt: skip
@click.option("--body-timeout", default="30s", show_default=True, envvar="FIREBOX_BODY_TIMEOUT",
              help="How long a request body may stall before the connection closes.")  # fmt: skip
@click.option("--max-request-size", default=262144, show_default=True,
              envvar="FIREBOX_MAX_REQUEST_SIZE", type=click.IntRange(1024, 1 << 30),
              help="Bytes a control-plane request body may carry (more: 413).")  # fmt: skip
@click.option("--auth", default="auto", show_default=True, envvar="FIREBOX_AUTH",
              type=click.Choice(["auto", "open", "sigv4"]),
              help="sigv4: verify every signature against `firebox keys`; open: accept any "
                   "well-formed one; auto: open on loopback, sigv4 otherwise.")  # fmt: skip
@click.option("--iam", default="report", show_default=True, envvar="FIREBOX_IAM",
              type=click.Choice(["enforce", "report", "off"]),
              help="Calls signed with a role session's credentials (functions'): enforce "
                   "denies what the role's policies do not allow; report logs it; off: "
                   "no checks.")  # fmt: skip
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
def serve(host: str, port: int, data_dir: Path, region: str, account_id: str,
          concurrency: int | None, keep_alive: str, init_timeout: str,
          runtimes: tuple[str, ...], sandbox: str, network: str, zygote: bool,
          pool_size: int, pool_budget: int, netns_reserve: int, keep_alive_policy: str,
          keep_alive_bin: str,
          precompile: bool, metrics: bool, async_retry_delay: str, shutdown_timeout: str,
          max_header_size: int, header_timeout: str, body_timeout: str, max_request_size: int,
          auth: str, iam: str, log_level: str) -> None:  # fmt: skip
    """Run the firebox server."""
    from firebox.config import Settings, default_concurrency
    from firebox.server import run

    interpreters = {}
    for item in runtimes:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"'{item}' is not NAME=INTERPRETER", param_hint="--runtime")
        interpreters[name] = path
    settings = Settings(
        data_dir=data_dir,
        host=host,
        port=port,
        region=region,
        account_id=account_id,
        concurrency_limit=concurrency or default_concurrency(),
        keep_alive_s=parse_duration(keep_alive),
        init_timeout_s=parse_duration(init_timeout),
        runtime_interpreters=interpreters,
        sandbox=sandbox,
        network=network,
        zygote=zygote,
        pool_size=pool_size,
        pool_budget_mb=pool_budget,
        netns_reserve=netns_reserve,
        async_retry_delay_s=parse_duration(async_retry_delay),
        precompile=precompile,
        metrics=metrics,
        keep_alive_policy=keep_alive_policy,
        keep_alive_bin_s=parse_duration(keep_alive_bin),
        max_header_bytes=max_header_size,
        header_timeout_s=parse_duration(header_timeout),
        body_timeout_s=parse_duration(body_timeout),
        max_request_bytes=max_request_size,
        auth=auth,
        iam=iam,
    )
    try:
        run(settings, log_level, parse_duration(shutdown_timeout))
    except (ValueError, RuntimeError) as exc:
        raise CliError(f"firebox: {exc}") from None


@cli.command()
@click.option("--data-dir", default=".firebox", show_default=True, envvar="FIREBOX_DATA_DIR",
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--network", default="isolated", show_default=True, envvar="FIREBOX_NETWORK",
              type=click.Choice(["isolated", "host"]))  # fmt: skip
@endpoint_option
def doctor(data_dir: Path, network: str, endpoint: str) -> None:
    """Report which protections environments get on this host, and why others are missing."""
    from firebox.runtimes.registry import RuntimeRegistry
    from firebox.sandboxes import probe

    # Absolute, as the server makes it: sandboxes mount from it after leaving this cwd.
    data_dir = data_dir.resolve()
    with contextlib.ExitStack() as scratch:
        probe_dir = data_dir
        if not data_dir.is_dir():  # no server has used it: probe elsewhere, leave no stray dir
            probe_dir = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="firebox-")))
        choice = probe.choose("auto", network, probe_dir)
        close = getattr(choice.factory, "close", None)
        if close is not None:
            scratch.callback(close)
    click.echo(f"sandbox on this host: {choice.factory.name}")
    for protection in choice.protections:
        mark = "✓" if protection.active else "✗"
        by = f"  [{protection.mechanism}]" if protection.mechanism else ""
        click.echo(f"  {mark} {protection.name:<15} {protection.detail}{by}")
        if protection.advice:
            click.echo(f"    → {protection.advice}")
    click.echo(f"runtimes: {', '.join(RuntimeRegistry().available())}")
    try:
        import httpx

        health = httpx.get(f"{endpoint.rstrip('/')}/_firebox/health", timeout=2).json()
        click.echo(f"running server at {endpoint}: sandbox {health.get('sandbox')}")
    except (httpx.HTTPError, ValueError):
        click.echo(f"no firebox server answering at {endpoint}")
    if not choice.isolated:
        raise SystemExit(1)


@cli.command(name="ls")
@endpoint_option
def list_functions(endpoint: str) -> None:
    """List functions."""
    client = ApiClient(endpoint)
    functions: list[dict[str, object]] = []
    marker = None
    while True:
        params = {"MaxItems": "50", **({"Marker": marker} if marker else {})}
        page = client.json("GET", "/2015-03-31/functions", params=params)
        functions.extend(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    if not functions:
        click.echo("no functions")
        return
    rows = [("NAME", "RUNTIME", "HANDLER", "MEMORY", "TIMEOUT", "LAST MODIFIED")]
    rows += [
        (str(f["FunctionName"]), str(f["Runtime"]), str(f["Handler"]), f"{f['MemorySize']} MB",
         f"{f['Timeout']} s", str(f["LastModified"]))
        for f in functions
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _read_payload(payload: str | None) -> bytes:
    if payload is None:
        return b"{}"
    if payload.startswith("@"):
        path = payload[1:]
        try:
            return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read payload file {path}: {exc.strerror}") from None
    return payload.encode()


@cli.command()
@click.argument("name")
@click.option("--payload", "-p", help="JSON event, or @file (@- for stdin).")
@click.option("--qualifier", "-q", help="Version or alias.")
@click.option("--event", "is_event", is_flag=True, help="Invoke asynchronously (Event).")
@click.option("--log", "show_log", is_flag=True, help="Print the invocation's log tail to stderr.")
@endpoint_option
def invoke(name: str, payload: str | None, qualifier: str | None, is_event: bool,
           show_log: bool, endpoint: str) -> None:  # fmt: skip
    """Invoke a function and print its result."""
    client = ApiClient(endpoint)
    headers = {"X-Amz-Invocation-Type": "Event" if is_event else "RequestResponse"}
    if show_log:
        headers["X-Amz-Log-Type"] = "Tail"
    response = client.request(
        "POST",
        f"/2015-03-31/functions/{quote(name, safe='')}/invocations",
        content=_read_payload(payload),
        headers=headers,
        params={"Qualifier": qualifier} if qualifier else None,
    )
    if show_log and "x-amz-log-result" in response.headers:
        click.echo(
            base64.b64decode(response.headers["x-amz-log-result"]).decode(), err=True, nl=False
        )
    if is_event:
        click.echo(f"accepted ({response.status_code})", err=True)
        return
    if response.headers.get("x-amz-function-error"):
        try:
            error = response.json()
            message = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        except ValueError:
            message = response.text
        raise CliError(f"function error: {message}")
    click.echo(response.text)


# How far back `logs --follow` looks again at each poll for lines stored late.
_LOOK_BACK_MS = 5000


@cli.command()
@click.argument("name")
@click.option("--since", default="10m", show_default=True, help="How far back: 30s, 10m, 2h, 1d.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@click.option("--filter", "pattern", help="Only events containing this text.")
@endpoint_option
def logs(name: str, since: str, follow: bool, pattern: str | None, endpoint: str) -> None:
    """Print a function's logs."""
    client = ApiClient(endpoint)
    config = client.json("GET", f"/2015-03-31/functions/{quote(name, safe='')}/configuration")
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
    request: dict[str, object] = {"logGroupName": group}
    if pattern:
        request["filterPattern"] = pattern
    start = int((time.time() - parse_duration(since)) * 1000)
    shown: dict[str, int] = {}  # event id → timestamp, of those printed in the look-back window
    while True:
        # In time order, every stream interleaved (FilterLogEvents' order). Following, each
        # poll looks a little back: a line is stored as it is printed, but one printed just
        # before a poll can be stored just after it.
        token = None
        while True:
            paging: dict[str, object] = {"nextToken": token} if token else {}
            page = client.logs("FilterLogEvents", {**request, "startTime": start, **paging})
            for event in page["events"]:
                if event["eventId"] in shown:
                    continue
                if follow:
                    shown[event["eventId"]] = event["timestamp"]
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
                click.echo(f"{stamp} {event['message']}")
            token = page.get("nextToken")
            if not token:
                break
        if not follow:
            return
        start = max(start, max(shown.values(), default=start) - _LOOK_BACK_MS)
        shown = {event_id: ts for event_id, ts in shown.items() if ts >= start}
        try:
            time.sleep(1.0)
        except KeyboardInterrupt:
            return


@cli.group(name="async")
def async_group() -> None:
    """The durable queue of Event (asynchronous) invocations."""


@async_group.command(name="stats")
@endpoint_option
def async_stats(endpoint: str) -> None:
    """Events waiting, in flight, retried and dropped, per function."""
    stats = ApiClient(endpoint).json("GET", "/_firebox/queue")["Functions"]
    columns = ("waiting", "in_flight", "retrying", "retried", "succeeded", "failed", "expired",
               "dropped")  # fmt: skip
    click.echo(f"{'FUNCTION':<32} " + " ".join(f"{c.upper():>9}" for c in columns) + "  OLDEST")
    for name, row in stats.items():
        counts = " ".join(f"{int(row.get(c, 0)):>9}" for c in columns)
        click.echo(f"{name:<32} {counts}  {row.get('oldest_age_s', 0):.1f}s")


@cli.group()
def routes() -> None:
    """HTTP API routes: requests under the server's /http prefix invoke functions."""


@routes.command(name="add")
@click.argument("route_key")
@click.argument("function")
@click.option("--qualifier", "-q", help="Version or alias to invoke.")
@click.option("--payload", "version", default="2.0", show_default=True,
              type=click.Choice(["2.0", "1.0"]), help="Event payload format.")  # fmt: skip
@endpoint_option
def routes_add(route_key: str, function: str, qualifier: str | None, version: str,
               endpoint: str) -> None:  # fmt: skip
    """Add a route: ROUTE_KEY is 'GET /items/{id}', 'ANY /{proxy+}' or '$default'."""
    import json

    body = {"RouteKey": route_key, "FunctionName": function, "Qualifier": qualifier,
            "PayloadFormatVersion": version}  # fmt: skip
    route = ApiClient(endpoint).json("POST", "/_firebox/routes", content=json.dumps(body).encode())
    click.echo(f"{route['RouteId']}  {route['RouteKey']} → {function}")


@routes.command(name="ls")
@endpoint_option
def routes_ls(endpoint: str) -> None:
    """List routes, most specific first (the order requests are matched in)."""
    items = ApiClient(endpoint).json("GET", "/_firebox/routes")["Routes"]
    click.echo(f"{'ID':<10} {'ROUTE':<36} {'FUNCTION':<32} PAYLOAD")
    for r in items:
        target = r["FunctionName"] + (f":{r['Qualifier']}" if r.get("Qualifier") else "")
        click.echo(
            f"{r['RouteId']:<10} {r['RouteKey']:<36} {target:<32} {r['PayloadFormatVersion']}"
        )


@routes.command(name="rm")
@click.argument("route_id")
@endpoint_option
def routes_rm(route_id: str, endpoint: str) -> None:
    """Remove a route by its id."""
    ApiClient(endpoint).request("DELETE", f"/_firebox/routes/{quote(route_id, safe='')}")
    click.echo(f"removed {route_id}")


rollouts.register(cli)


cli.add_command(keys)
cli.add_command(metrics)
cli.add_command(cost)
cli.add_command(queues)
cli.add_command(buckets)
cli.add_command(queue)
cli.add_command(print_config)
cli.add_command(deploy)
cli.add_command(info)
cli.add_command(remove)
cli.add_command(dev)


@queue.command(name="stats", hidden=True)
@endpoint_option
@click.pass_context
def queue_stats(ctx: click.Context, endpoint: str) -> None:
    """Renamed: `firebox async stats` (`firebox queue` is SQS's now)."""
    click.echo("firebox: `queue stats` is now `firebox async stats`", err=True)
    ctx.invoke(async_stats, endpoint=endpoint)


def main() -> None:
    # `firebox` reads FIREBOX_* settings; nothing else from the environment changes behaviour.
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli(prog_name="firebox")


if __name__ == "__main__":
    main()

"""`firebox dev`: deploy, then redeploy what each edit changes and stream every function's logs.

An edit's files are checked first (Python compiled, JavaScript through `node --check`): a
syntax error is shown at once and nothing is deployed, so the previous code keeps serving. A
deploy updates only the functions whose package changed; their warm environments retire, so
the next invoke runs the new code, and each new environment runs its init code once."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from firebox.cli import stackview
from firebox.cli.client import ApiClient, CliError, endpoint_option
from firebox.cli.deploy import HttpStackApi, options_of, service_options
from firebox.deploy.deployer import Prepared, prepare, upload
from firebox.deploy.yamlfile import ConfigError

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan",
           "bright_magenta")  # fmt: skip
POLL_S = 0.25  # how often logs are fetched
LOOK_BACK_MS = 2000  # a line stored just after a poll that looked before it: fetched again


def syntax_errors(paths: Iterable[Path], python: bool = True) -> list[str]:
    """What is wrong with edited source files, as the runtime would report it (Python only
    when this interpreter is as new as the functions', which may use newer syntax)."""
    problems = []
    node = shutil.which("node")
    for path in paths:
        if not path.is_file():
            continue
        if path.suffix == ".py" and python:
            try:
                compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
            except SyntaxError as exc:
                where = f"{path.name}, line {exc.lineno}"
                text = (exc.text or "").rstrip()
                problems.append(f"{type(exc).__name__} in {where}: {exc.msg}"
                                + (f"\n    {text}" if text else ""))  # fmt: skip
        elif path.suffix in (".js", ".mjs", ".cjs") and node is not None:
            done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True,
                                  timeout=30, check=False)  # fmt: skip
            if done.returncode != 0:
                problems.append(done.stderr.strip())
    return problems


class LogTail:
    """Every function's new log lines, each function in its own colour."""

    def __init__(self, client: ApiClient, console: Console) -> None:
        self.client = client
        self.console = console
        self.functions: list[str] = []
        self._since: dict[str, int] = {}
        self._shown: dict[str, dict[str, int]] = {}
        self.stop = threading.Event()

    def follow(self, functions: list[str]) -> None:
        now = int(time.time() * 1000)
        for name in functions:
            self._since.setdefault(name, now - 1000)
            self._shown.setdefault(name, {})
        self.functions = list(functions)

    def run(self) -> None:
        while not self.stop.wait(POLL_S):
            for index, name in enumerate(list(self.functions)):
                # No log group yet (never invoked), or the server restarting: next time.
                with contextlib.suppress(CliError):
                    self._poll(name, COLOURS[index % len(COLOURS)])

    def _poll(self, name: str, colour: str) -> None:
        shown = self._shown[name]
        start = self._since[name]
        token = None
        while True:
            request: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}", "startTime": start}
            if token:
                request["nextToken"] = token
            page = self.client.logs("FilterLogEvents", request)
            for event in page["events"]:
                if event["eventId"] in shown:
                    continue
                shown[event["eventId"]] = event["timestamp"]
                message = str(event["message"]).rstrip("\n")
                self.console.print(f"[{colour}]{escape(name)}[/{colour}] {escape(message)}")
            token = page.get("nextToken")
            if not token:
                break
        newest = max(shown.values(), default=start)
        self._since[name] = max(start, newest - LOOK_BACK_MS)
        self._shown[name] = {k: v for k, v in shown.items() if v >= self._since[name]}


class DevLoop:
    """One service under development: deployed again on every change."""

    def __init__(self, console: Console, api: HttpStackApi, config: Path,
                 options: dict[str, Any]) -> None:  # fmt: skip
        self.console = console
        self.api = api
        self.config = config
        self.options = options
        self.prepared: Prepared | None = None
        self.account: str | None = None  # the server's, asked once

    def deploy(self) -> bool:
        """Packages and deploys; False (reported) when it cannot."""
        began = time.monotonic()
        try:
            if self.account is None:
                self.account = self.api.account()
            prepared = prepare(self.config, self.options,
                               lambda line: self.console.print(f"[dim]{line}[/dim]"),
                               compress=False, account=self.account)  # fmt: skip
        except (ConfigError, CliError) as exc:
            self.console.print(f"[red]✘ {escape(str(exc))}[/red]")
            return False
        except Exception as exc:  # whatever the files hold, the watch goes on
            self.console.print(f"[red]✘ {escape(type(exc).__name__)}: {escape(str(exc))}[/red]")
            return False
        first = self.prepared is None
        self.prepared = prepared
        try:
            self.api.check_runtimes(prepared)
            upload(self.api, prepared)
            if first:
                stackview.packaged(self.console, prepared)
            changed: list[str] = []
            record: dict[str, Any] = {}
            for line in self.api.deploy(prepared.stack, prepared.template):
                if "Error" in line:
                    raise CliError(f"{line['Error']['Code']}: {line['Error']['Message']}")
                if "Stack" in line:
                    record = line["Stack"]
                    continue
                event = line["Event"]
                if event["Status"] == "failed":
                    self.console.print(f"[red]✘ {escape(event['LogicalId'])}: "
                                       f"{escape(event.get('Reason', ''))}[/red]")  # fmt: skip
                elif event["Status"] == "done" and event["Action"] not in ("unchanged", "skip",
                                                                            "retain"):  # fmt: skip
                    changed.append(f"{event['Action']} {event['LogicalId']}")
        except CliError as exc:
            self.console.print(f"[red]✘ {escape(str(exc))}[/red]")
            return False
        took = (time.monotonic() - began) * 1000
        if first:
            stackview.summary(self.console, record)
        elif changed:
            self.console.print(f"[green]↻[/green] {escape(', '.join(changed))} "
                               f"[dim]({took:.0f} ms)[/dim]")  # fmt: skip
        else:
            self.console.print(f"[dim]no changes ({took:.0f} ms)[/dim]")
        return str(record.get("StackStatus", "")).endswith("_COMPLETE")

    def python_checkable(self) -> bool:
        """Whether this interpreter reads every Python function's syntax (none is newer)."""
        if self.prepared is None:
            return True
        here = sys.version_info[:2]
        config = self.prepared.config
        for fn in (config.get("functions") or {}).values():
            runtime = str(fn.get("runtime") or config["provider"].get("runtime") or "")
            if runtime.startswith("python3."):
                minor = runtime.removeprefix("python3.")
                if minor.isdigit() and (3, int(minor)) > here:
                    return False
        return True

    def functions(self) -> list[str]:
        if self.prepared is None:
            return []
        return [str(fn["name"]) for fn in (self.prepared.config.get("functions") or {}).values()]

    def changed(self, paths: list[Path]) -> None:
        """Files changed: checked, then the service deployed again."""
        service_dir = self.config.parent.resolve()
        # Any change: the config (and a .env it reads) as well as code; an unchanged package
        # deploys as "no changes".
        relative = [p.resolve().relative_to(service_dir).as_posix() for p in paths
                    if p.resolve().is_relative_to(service_dir)]  # fmt: skip
        # Editors' temporary files come and go within a batch: those still here are shown.
        present = [r for r in relative if (service_dir / r).exists()] or relative
        shown = ", ".join(sorted(present)[:3]) + (" …" if len(present) > 3 else "")
        self.console.print(f"[dim]changed: {escape(shown)}[/dim]")
        problems = syntax_errors(paths, self.python_checkable())
        if problems:
            for problem in problems:
                self.console.print(f"[red]✘ {escape(problem)}[/red]")
            self.console.print("[yellow]the previous code keeps serving until this is fixed"
                               "[/yellow]")  # fmt: skip
            return
        self.deploy()


def _ignored(path: str) -> bool:
    parts = Path(path).parts
    return any(p in (".git", ".serverless", ".firebox", "__pycache__", ".cache") for p in parts)


@click.command()
@service_options
@endpoint_option
def dev(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
        endpoint: str) -> None:  # fmt: skip
    """Deploy the service, then redeploy it on every change and stream every function's logs."""
    import watchfiles

    console = stackview.console()
    loop = DevLoop(console, HttpStackApi(ApiClient(endpoint)), config,
                   options_of(stage, region, params))  # fmt: skip
    if not loop.deploy() and loop.prepared is None:
        raise CliError("the service could not be deployed: fix it and run `firebox dev` again")
    tail = LogTail(ApiClient(endpoint), console)
    tail.follow(loop.functions())
    thread = threading.Thread(target=tail.run, name="logs", daemon=True)
    thread.start()
    service_dir = config.parent.resolve()
    console.print(f"[bold]watching {escape(str(service_dir))}[/bold] [dim](Ctrl-C to stop; the "
                  "service stays deployed)[/dim]")  # fmt: skip
    try:
        for changes in watchfiles.watch(service_dir, step=20, debounce=400,
                                        watch_filter=lambda change, path: not _ignored(path),
                                        raise_interrupt=False):  # fmt: skip
            loop.changed(sorted({Path(path) for _, path in changes}))
            tail.follow(loop.functions())
    finally:
        tail.stop.set()

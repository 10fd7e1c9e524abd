"""`firebox print`, `deploy`, `info` and `remove`: a service's serverless.yml resolved (as
`serverless print`), deployed as a stack, shown and removed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from firebox.cli import stackview
from firebox.cli.client import ApiClient, CliError, endpoint_option
from firebox.deploy.config import load_service
from firebox.deploy.deployer import Prepared, prepare, upload
from firebox.deploy.yamlfile import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def service_options(command: F) -> F:
    """-c, --stage, --region, --param: which service, resolved how."""
    for option in reversed([
        click.option("-c", "--config", "config", default="serverless.yml", show_default=True,
                     type=click.Path(dir_okay=False, path_type=Path), help="The service's file."),
        click.option("-s", "--stage", default=None,
                     help="The stage (${opt:stage}, ${sls:stage})."),
        click.option("-r", "--region", default=None, help="The region (${opt:region})."),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="A ${param:NAME} value (repeatable)."),
    ]):  # fmt: skip
        command = option(command)
    return command


def options_of(stage: str | None, region: str | None, params: tuple[str, ...]) -> dict[str, Any]:
    for param in params:
        if "=" not in param:
            raise CliError(f'--param "{param}": expected NAME=VALUE')
    options = {"stage": stage, "region": region, "param": list(params)}
    return {k: v for k, v in options.items() if v}


class HttpStackApi:
    """The server's stack operations over its HTTP API."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._health: dict[str, Any] | None = None  # asked once

    def missing(self, sha256s: list[str]) -> list[str]:
        body = json.dumps({"Sha256s": sha256s}).encode()
        found: list[str] = self.client.json(
            "POST",
            "/_firebox/artifacts",
            content=body,
            headers={"Content-Type": "application/json"},
        )["Missing"]
        return found

    def upload(self, sha256: str, data: bytes) -> None:
        self.client.request("PUT", f"/_firebox/artifacts/{sha256}", content=data,
                            headers={"Content-Type": "application/zip"})  # fmt: skip

    def plan(self, stack: str, template: Mapping[str, Any]) -> list[dict[str, Any]]:
        body = json.dumps({"Template": template}).encode()
        changes: list[dict[str, Any]] = self.client.json(
            "POST", f"/_firebox/stacks/{stack}/plan", content=body,
            headers={"Content-Type": "application/json"})["Changes"]  # fmt: skip
        return changes

    def deploy(self, stack: str, template: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        body = json.dumps({"Template": template}).encode()
        return self.client.stream_lines("PUT", f"/_firebox/stacks/{stack}", body)

    def remove(self, stack: str) -> Iterator[dict[str, Any]]:
        return self.client.stream_lines("DELETE", f"/_firebox/stacks/{stack}")

    def health(self) -> dict[str, Any]:
        if self._health is None:
            self._health = self.client.json("GET", "/_firebox/health")
        return self._health

    def account(self) -> str:
        """The server's account (what `${aws:accountId}` resolves to)."""
        return str(self.health().get("account", "000000000000"))

    def check_runtimes(self, prepared: Prepared) -> None:
        """Every function's runtime is one the server runs (said before anything changes)."""
        available = set(self.health().get("runtimes", []))
        provider = prepared.config["provider"]
        for key, fn in (prepared.config.get("functions") or {}).items():
            runtime = fn.get("runtime") or provider.get("runtime") or "nodejs16.x"
            if available and runtime not in available:
                raise CliError(
                    f"functions.{key}: runtime {runtime} is not available on this "
                    f"firebox server (it runs {', '.join(sorted(available))})"
                )

    def get(self, stack: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.json("GET", f"/_firebox/stacks/{stack}")
        return found


@click.command(name="print")
@service_options
@click.option("--format", "output", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True)  # fmt: skip
def print_config(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
                 output: str) -> None:  # fmt: skip
    """Show the configuration with its variables resolved and the Framework's defaults."""
    try:
        resolved = load_service(config, options_of(stage, region, params))
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if output == "json":
        click.echo(json.dumps(resolved, indent=2))
        return
    import io

    from ruamel.yaml import YAML

    yaml = YAML()  # (keeps the order of keys)
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(resolved, buffer)
    click.echo(buffer.getvalue().rstrip())


@click.command()
@service_options
@endpoint_option
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change; change nothing.")
def deploy(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
           endpoint: str, plan_only: bool) -> None:  # fmt: skip
    """Deploy the service: its functions, their events and its resources, as one stack."""
    console = stackview.console()
    api = HttpStackApi(ApiClient(endpoint))
    account = api.account()
    try:
        with console.status("packaging…"):
            prepared = prepare(config, options_of(stage, region, params),
                               lambda line: console.print(f"[dim]{line}[/dim]"),
                               account=account)  # fmt: skip
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    stackview.packaged(console, prepared)
    api.check_runtimes(prepared)
    with console.status("uploading…"):
        uploaded = upload(api, prepared)
    if uploaded:
        console.print(f"[dim]uploaded {uploaded} package(s)[/dim]")
    changes = api.plan(prepared.stack, prepared.template)
    stackview.plan(console, prepared.stack, changes)
    if plan_only:
        return
    record = stackview.follow(console, api.deploy(prepared.stack, prepared.template))
    stackview.summary(console, record)
    if not str(record["StackStatus"]).endswith("_COMPLETE"):
        raise CliError(f"deploy failed: {record['StackStatusReason']}\n"
                       "fix the cause and deploy again: what was made stays, and the next "
                       "deploy goes on from there")  # fmt: skip


@click.command()
@service_options
@endpoint_option
@click.option("--stack", default=None, help="A stack by name instead of the service's.")
def info(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
         endpoint: str, stack: str | None) -> None:  # fmt: skip
    """Show a deployed service: its functions, endpoints, resources and outputs."""
    api = HttpStackApi(ApiClient(endpoint))
    stackview.summary(stackview.console(), api.get(stack or _stack_of(config, stage, region,
                                                                      params)))  # fmt: skip


@click.command()
@service_options
@endpoint_option
@click.option("--stack", default=None, help="A stack by name instead of the service's.")
def remove(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
           endpoint: str, stack: str | None) -> None:  # fmt: skip
    """Remove everything the service's stack made (and nothing else)."""
    console = stackview.console()
    api = HttpStackApi(ApiClient(endpoint))
    name = stack or _stack_of(config, stage, region, params)
    record = stackview.follow(console, api.remove(name))
    if record["StackStatus"] != "DELETE_COMPLETE":
        raise CliError(f"remove failed: {record['StackStatusReason']}")
    console.print(f"[green]✔[/green] stack {name} removed")


def _stack_of(config: Path, stage: str | None, region: str | None,
              params: tuple[str, ...]) -> str:  # fmt: skip
    from firebox.deploy.compile import stack_name

    try:
        resolved = load_service(config, options_of(stage, region, params))
        resolved["provider"]["stage"] = stage or resolved["provider"]["stage"]
        return stack_name(resolved)
    except ConfigError as exc:
        # Only the stack's name is needed: from the file as written when the name's parts
        # hold no variables (a variable elsewhere may need what a deploy had, like --param).
        name = _plain_stack_name(config, stage)
        if name is None:
            raise CliError(str(exc)) from None
        return name


def _plain_stack_name(config: Path, stage: str | None) -> str | None:
    from firebox.deploy.yamlfile import load

    try:
        data = load(config).data
    except ConfigError:
        return None
    provider = data.get("provider") if isinstance(data, dict) else None
    provider = provider if isinstance(provider, dict) else {}
    parts = [data.get("service") if isinstance(data, dict) else None,
             stage or provider.get("stage") or "dev"]  # fmt: skip
    if provider.get("stackName") is not None:
        parts = [provider["stackName"]]
    if not all(isinstance(p, str) and "${" not in p for p in parts):
        return None
    return "-".join(str(p) for p in parts)

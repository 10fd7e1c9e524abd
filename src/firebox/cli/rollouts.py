"""`firebox rollout`: shift an alias to a new version step by step, watched for errors."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import click

from firebox.cli.client import ApiClient, CliError, endpoint_option, parse_duration

FINAL = {"Completed": 0, "RolledBack": 1, "Aborted": 1}


class RolloutGroup(click.Group):
    """`firebox rollout NAME …` starts a rollout; `status` and `abort` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


def describe(rollout: dict[str, Any]) -> str:
    """One line: where the rollout is and what it has seen."""
    steps = rollout["Steps"]
    current = rollout["History"][-1] if rollout["History"] else {}
    line = (
        f"{rollout['FunctionName']}:{rollout['Alias']}  {rollout['FromVersion']} → "
        f"{rollout['ToVersion']}  {rollout['State']}  step {rollout['Step'] + 1}/{len(steps)} "
        f"({rollout['Weight']}% on {rollout['ToVersion']}); this step: "
        f"{int(current.get('invocations', 0))} invokes, {int(current.get('errors', 0))} errors"
    )
    return f"{line}\n  {rollout['Reason']}" if rollout.get("Reason") else line


def _path(name: str, alias: str) -> str:
    return f"/_firebox/rollouts/{quote(name, safe='')}/{quote(alias, safe='')}"


def _wait(client: ApiClient, name: str, alias: str, shown: str) -> None:
    """Prints every change until the rollout ends; exits 1 unless it completed."""
    while True:
        rollout = client.json("GET", _path(name, alias))
        line = describe(rollout)
        if line != shown:
            click.echo(line)
            shown = line
        if rollout["State"] in FINAL:
            if FINAL[rollout["State"]]:
                raise CliError(f"rollout {rollout['State'].lower()}: {rollout['Reason']}")
            return
        time.sleep(0.5)


def register(cli: click.Group) -> None:
    """Adds the rollout commands to the CLI."""

    @cli.group(cls=RolloutGroup)
    def rollout() -> None:
        """Gradual rollouts: `firebox rollout NAME --alias prod --to-version 4`."""

    @rollout.command(name="start")
    @click.argument("name")
    @click.option("--alias", required=True, help="The alias to move, e.g. prod.")
    @click.option("--to-version", required=True, help="The published version to move it to.")
    @click.option("--steps", default="10,50,100", show_default=True,
                  help="Percent of traffic on the new version at each step.")  # fmt: skip
    @click.option("--interval", default="5m", show_default=True, help="Time per step: 30s, 5m.")
    @click.option("--max-error-rate", type=float, default=0.05, show_default=True,
                  help="Roll back above this error rate of the new version.")  # fmt: skip
    @click.option("--min-invocations", type=int, default=10, show_default=True,
                  help="Invokes of the new version needed to roll back mid-step.")  # fmt: skip
    @click.option("--min-step-invocations", type=int, default=0, show_default=True,
                  help="Hold each step until this many invokes of the new version were "
                  "seen in it (0: steps end on time, measured or not).")  # fmt: skip
    @click.option("--wait/--no-wait", default=True, show_default=True,
                  help="Follow the rollout until it ends.")  # fmt: skip
    @endpoint_option
    def start(name: str, alias: str, to_version: str, steps: str, interval: str,
              max_error_rate: float, min_invocations: int, min_step_invocations: int, wait: bool,
              endpoint: str) -> None:  # fmt: skip
        """Start shifting ALIAS of NAME to a new version."""
        try:
            percents = [int(step) for step in steps.split(",")]
        except ValueError:
            raise click.BadParameter(f"'{steps}' is not a list like 10,50,100") from None
        body = {
            "FunctionName": name, "Alias": alias, "ToVersion": to_version, "Steps": percents,
            "IntervalSeconds": parse_duration(interval), "MaxErrorRate": max_error_rate,
            "MinInvocations": min_invocations, "MinStepInvocations": min_step_invocations,
        }  # fmt: skip
        client = ApiClient(endpoint)
        started = client.json("POST", "/_firebox/rollouts", content=json.dumps(body).encode())
        line = describe(started)
        click.echo(line)
        if wait:
            _wait(client, name, alias, line)

    @rollout.command()
    @click.argument("name", required=False)
    @click.option("--alias", help="The alias (default: every rollout of NAME).")
    @endpoint_option
    def status(name: str | None, alias: str | None, endpoint: str) -> None:
        """Show rollouts: all, a function's, or one alias's."""
        client = ApiClient(endpoint)
        if name and alias:
            click.echo(describe(client.json("GET", _path(name, alias))))
            return
        rollouts = client.json("GET", "/_firebox/rollouts")["Rollouts"]
        shown = [r for r in rollouts if name in (None, r["FunctionName"])]
        if not shown:
            raise CliError("no rollouts" + (f" of {name}" if name else ""))
        for item in shown:
            click.echo(describe(item))

    @rollout.command()
    @click.argument("name")
    @click.option("--alias", required=True)
    @endpoint_option
    def abort(name: str, alias: str, endpoint: str) -> None:
        """Stop a rollout and put the alias back on the old version."""
        click.echo(describe(ApiClient(endpoint).json("DELETE", _path(name, alias))))

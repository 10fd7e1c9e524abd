"""`firebox print`: a service's serverless.yml as firebox resolves it (as `serverless print`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from firebox.cli.client import CliError
from firebox.deploy.config import load_service
from firebox.deploy.yamlfile import ConfigError


@click.command(name="print")
@click.option(
    "-c",
    "--config",
    "config",
    default="serverless.yml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The service's file.",
)
@click.option("-s", "--stage", default=None, help="The stage (${opt:stage}, ${sls:stage}).")
@click.option("-r", "--region", default=None, help="The region (${opt:region}).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A ${param:NAME} value (repeatable).",
)
@click.option("--format", "output", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True)  # fmt: skip
def print_config(config: Path, stage: str | None, region: str | None, params: tuple[str, ...],
                 output: str) -> None:  # fmt: skip
    """Show the configuration with its variables resolved and the Framework's defaults."""
    for param in params:
        if "=" not in param:
            raise CliError(f'--param "{param}": expected NAME=VALUE')
    options = {"stage": stage, "region": region, "param": list(params)}
    try:
        resolved = load_service(config, {k: v for k, v in options.items() if v})
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

"""A service's configuration as the Framework sees it after reading serverless.yml: variables
resolved, then its defaults applied (what `serverless print` shows, and what deploys)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from firebox.deploy.variables import Context, resolve
from firebox.deploy.yamlfile import ConfigError, load


def load_service(path: Path, options: Mapping[str, Any], account_id: str = "000000000000",
                 environ: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """serverless.yml (or `-c FILE`) read, resolved and completed; ConfigError if it cannot."""
    document = load(path)
    if not isinstance(document.data, dict):
        raise ConfigError(f'"{path.name}" must hold a mapping (service, provider, functions …)')
    context = Context(path.parent.resolve(), options, account_id=account_id)
    if environ is not None:
        context.environ = environ
    if document.data.get("useDotenv") is True:
        context.environ = {**dotenv(context.service_dir, options, document.data),
                           **context.environ}  # fmt: skip
    config = resolve(document, context)
    return complete(config, options)


def dotenv(service_dir: Path, options: Mapping[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """`useDotenv: true`: the variables of `.env.<stage>`, else of `.env` (those the
    environment already has win, as with the Framework's dotenv)."""
    provider = config.get("provider")
    stage = options.get("stage") or (provider.get("stage") if isinstance(provider, dict) else None)
    if not isinstance(stage, str) or "${" in stage:
        stage = "dev"  # (the Framework reads it before resolving anything)
    for name in (f".env.{stage}", ".env"):
        if (service_dir / name).is_file():
            values = dotenv_values(service_dir / name, interpolate=True)
            return {key: value for key, value in values.items() if value is not None}
    return {}


def complete(config: dict[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The Framework's changes to a resolved configuration (lib/classes/service.js and the
    AWS provider): provider.stage and region, function names, lists merged into maps."""
    provider = config.get("provider")
    if isinstance(provider, str):
        provider = config["provider"] = {"name": provider}
    if not isinstance(provider, dict):
        raise ConfigError('"provider" must name the provider (aws) and its settings')
    if provider.get("stage") is None:
        provider["stage"] = "dev"  # (not --stage: that goes into names only)
    provider["region"] = options.get("region") or provider.get("region") or "us-east-1"
    if provider.get("name") == "aws" and provider.get("versionFunctions") is None:
        provider["versionFunctions"] = True
    for key in ("functions", "resources"):
        if isinstance(config.get(key), list):  # `functions: [{a: …}, {b: …}]` (several files)
            merged: dict[str, Any] = {}
            for part in config[key]:
                if isinstance(part, dict):
                    _merge(merged, part)
            config[key] = merged
    stage = options.get("stage") or provider["stage"]
    functions = config.get("functions")
    if isinstance(functions, dict):
        for name in [n for n, function in functions.items() if function is None]:
            del functions[name]  # `gone:` with nothing under it: no function, as the Framework
        for name, function in functions.items():
            if not isinstance(function, dict):
                raise ConfigError(f"functions.{name} must be a mapping (handler, events …)")
            if not function.get("name"):
                function["name"] = f"{config.get('service')}-{stage}-{name}"
            if not function.get("events"):
                function["events"] = []
    return config


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Deep-merges part into into (maps merged key by key; anything else replaced)."""
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value

"""A service deployed from its serverless.yml: read and resolved, packaged, compiled into a
stack template, its packages uploaded, the template planned and applied by the server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from firebox.deploy.compile import compile_service, stack_name
from firebox.deploy.config import load_service
from firebox.deploy.package import Package, Packager


class StackApi(Protocol):
    """The server's stack operations, as the deployer needs them."""

    def missing(self, sha256s: list[str]) -> list[str]: ...

    def upload(self, sha256: str, data: bytes) -> None: ...

    def plan(self, stack: str, template: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    def deploy(self, stack: str, template: Mapping[str, Any]) -> Iterator[dict[str, Any]]: ...

    def remove(self, stack: str) -> Iterator[dict[str, Any]]: ...

    def get(self, stack: str) -> dict[str, Any]: ...

    def account(self) -> str: ...


@dataclass
class Prepared:
    """A service ready to deploy: its stack's name, template and packages."""

    config: dict[str, Any]
    stack: str
    template: dict[str, Any]
    packages: dict[str, Package]
    warnings: list[str] = field(default_factory=list)
    layers: dict[str, Package] = field(default_factory=dict)  # the service's own layers

    def unique_packages(self) -> dict[str, Package]:
        return {p.sha256: p for p in (*self.packages.values(), *self.layers.values())}


def cache_dir() -> Path:
    """Where installed dependencies are kept between deploys."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "firebox" / "deploy"


def prepare(
    config_path: Path,
    options: Mapping[str, Any],
    log: Callable[[str], None] = lambda line: None,
    compress: bool = True,
    account: str = "000000000000",
) -> Prepared:
    """Reads, packages and compiles a service (ConfigError when it cannot); `account` is what
    `${aws:accountId}` gives (the server's)."""
    config = load_service(config_path, options, account)
    # The stage deployed: --stage over provider.stage (print shows the file's; names and the
    # stack take this one, as the Framework's provider.getStage() gives them).
    config["provider"]["stage"] = options.get("stage") or config["provider"]["stage"]
    packager = Packager(
        config, config_path.parent.resolve(), cache_dir(), log, compress, config_path.name
    )
    packages, layers = packager.packages(), packager.layers()
    compiled = compile_service(config, {k: p.sha256 for k, p in packages.items()},
                               {k: p.sha256 for k, p in layers.items()})  # fmt: skip
    return Prepared(config, stack_name(config), compiled.template, packages, compiled.warnings,
                    layers)  # fmt: skip


def upload(api: StackApi, prepared: Prepared) -> int:
    """Uploads the packages the server does not have; returns how many."""
    unique = prepared.unique_packages()
    missing = api.missing(sorted(unique))
    for sha256 in missing:
        api.upload(sha256, unique[sha256].data)
    return len(missing)


def template_json(prepared: Prepared) -> bytes:
    return json.dumps({"Template": prepared.template}).encode()

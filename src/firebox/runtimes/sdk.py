"""The AWS SDK for Python (boto3 and what it needs), bundled into Python runtimes as on Lambda.

Lambda's Python runtimes ship boto3, so most functions import it without vendoring it. Firebox
offers the copy installed beside the server: its distributions are copied once per version
into the cache (`sdk/boto3-<version>`), mounted read-only at /var/sdk in every Python
environment, and put on sys.path behind the function's own code and layers (PYTHONPATH,
after /var/runtime, as Lambda orders it), so a vendored copy still wins.
"""

from __future__ import annotations

import importlib.metadata as metadata
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("firebox.runtimes.sdk")

INSIDE = "/var/sdk"  # where an isolated environment sees it
ROOT = "boto3"
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_MINIMUM = re.compile(r">=\s*(\d+)\.(\d+)")


@dataclass(frozen=True)
class Sdk:
    """A prepared copy of the SDK on the host, and the interpreters it can serve."""

    path: Path  # host directory holding the packages (one sys.path entry)
    version: str  # boto3's
    interpreters: frozenset[str]  # those new enough for it, as the runtime registry names them

    def supports(self, interpreter: str | None) -> bool:
        return interpreter in self.interpreters  # on every cold start's path: no syscalls


def _distributions() -> list[metadata.Distribution]:
    """boto3 and every distribution it requires (extras left out), as installed here."""
    found: dict[str, metadata.Distribution] = {}
    todo = [ROOT]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = dist = metadata.distribution(name)
        for requirement in dist.requires or []:
            match = _NAME.match(requirement)
            if match and "extra ==" not in requirement:
                todo.append(match.group(0))
    return list(found.values())


def _minimum_python(dists: list[metadata.Distribution]) -> tuple[int, int]:
    """The newest of the distributions' lowest supported Pythons (Requires-Python: >=X.Y)."""
    lowest = [(3, 0)]
    for dist in dists:
        match = _MINIMUM.search(" ".join(dist.metadata.get_all("Requires-Python") or []))
        if match:
            lowest.append((int(match.group(1)), int(match.group(2))))
    return max(lowest)


def _copy(dists: list[metadata.Distribution], target: Path) -> None:
    """Copies each distribution's installed files (bytecode too: copy2 keeps the source
    mtimes the .pyc files were checked against) into target, whole or not at all."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        for dist in dists:
            base = Path(str(dist.locate_file("")))
            for file in dist.files or []:
                if ".." in file.parts:  # scripts installed outside site-packages
                    continue
                source, dest = base / file, partial / file
                if source.is_file():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, dest)
        os.chmod(partial, 0o755)
        partial.rename(target)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not target.is_dir():  # else another server made it first
            raise


def prepare(cache: Path, interpreters: dict[str, str]) -> Sdk | None:
    """The SDK copied into cache (once per version), for the runtimes (name → interpreter)
    new enough for it; None when boto3 is not installed beside the server."""
    try:
        dists = _distributions()
    except metadata.PackageNotFoundError as exc:
        log.warning("no AWS SDK in Python runtimes: %s is not installed", exc)
        return None
    minimum = _minimum_python(dists)
    version = dists[0].version  # boto3's: the walk starts there
    target = cache / "sdk" / f"{ROOT}-{version}"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _copy(dists, target)
        except OSError as exc:
            log.warning("no AWS SDK in Python runtimes: cannot copy it: %s", exc)
            return None
    supported: set[str] = set()
    for name, path in interpreters.items():
        match = re.fullmatch(r"python(\d+)\.(\d+)", name)
        if match and (int(match.group(1)), int(match.group(2))) >= minimum:
            supported.add(path)
    return Sdk(target, version, frozenset(supported))

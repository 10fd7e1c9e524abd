"""Packages a service's functions as the Framework does: the service's files through
`package.patterns` (per function with `individually`), a prebuilt `artifact`, and the
dependencies of requirements.txt / package.json installed into the package (as the
serverless-python-requirements plugin does), cached by their content."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from firebox.deploy.yamlfile import ConfigError

# Never packaged (the Framework's own defaults, and what firebox keeps beside a service).
DEFAULT_EXCLUDES = (
    ".git/**",
    ".gitignore",
    ".DS_Store",
    "npm-debug.log",
    ".serverless/**",
    ".serverless_plugins/**",
    ".firebox/**",
    "**/__pycache__/**",
    ".venv/**",
    ".env",
    ".env.*",
    "serverless.yml",
    "serverless.yaml",
    "serverless.json",
)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same files make the same zip, the same SHA-256


@dataclass(frozen=True)
class Package:
    """One zip: the functions it serves share it when it is the same."""

    data: bytes
    sha256: str
    files: int


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    """A micromatch-style glob: `**` crosses directories, `*` and `?` do not."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _matches(glob: str, path: str) -> bool:
    glob = glob.removeprefix("./")
    return bool(_pattern(glob).match(path))


def select(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The paths kept after the defaults and then `patterns` in order (`!glob` excludes)."""
    patterns = [*(f"!{g}" for g in DEFAULT_EXCLUDES), *patterns]
    kept = []
    for path in paths:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern[1:] if negated else pattern
            if _matches(glob, path):
                keep = not negated
        if keep:
            kept.append(path)
    return kept


def _walk(root: Path) -> list[str]:
    """Every file under root, relative and sorted (links followed as the Framework does)."""
    found: list[str] = []
    for directory, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if d not in (".git", ".serverless", ".firebox")]
        base = Path(directory).relative_to(root)
        found.extend((base / name).as_posix() for name in files)
    return sorted(found)


def build_zip(sources: Mapping[str, Path], compress: bool = True) -> Package:
    """A deterministic zip of `archive path → file` (sorted, fixed times, modes kept);
    stored rather than deflated when `compress` is off (the dev loop: speed over size)."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buffer, "w", method, compresslevel=6 if compress else None) as archive:
        for name in sorted(sources):
            path = sources[name]
            info = zipfile.ZipInfo(name, ZIP_TIME)
            mode = path.stat().st_mode
            info.external_attr = ((0o755 if mode & 0o111 else 0o644) | 0o100000) << 16
            info.compress_type = method
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    return Package(data, hashlib.sha256(data).hexdigest(), len(sources))


class Packager:
    """Builds the packages of a resolved service; dependencies cached under `cache_dir`."""

    def __init__(
        self,
        config: Mapping[str, Any],
        service_dir: Path,
        cache_dir: Path,
        log: Callable[[str], None] = lambda line: None,
        compress: bool = True,
    ) -> None:
        self.compress = compress
        self.config = config
        self.dir = service_dir
        self.cache = cache_dir
        self.log = log
        self.service_package: dict[str, Any] = dict(config.get("package") or {})
        self._files: list[str] | None = None

    def files(self) -> list[str]:
        if self._files is None:
            self._files = _walk(self.dir)
        return self._files

    def packages(self) -> dict[str, Package]:
        """Each function's package, by the function's key."""
        out: dict[str, Package] = {}
        shared: Package | None = None
        functions = self.config.get("functions") or {}
        individually = bool(self.service_package.get("individually"))
        provider = self.config["provider"]
        for key, fn in functions.items():
            fn_package = dict(fn.get("package") or {})
            artifact = fn_package.get("artifact") or (
                None if individually or fn_package.get("individually")
                else self.service_package.get("artifact"))  # fmt: skip
            if artifact:
                out[key] = self._artifact(str(artifact))
                continue
            runtime = str(fn.get("runtime") or provider.get("runtime") or "")
            if individually or fn_package.get("individually"):
                patterns = [*self._patterns(self.service_package),
                            *self._patterns(fn_package)]  # fmt: skip
                out[key] = self._build(patterns, {runtime})
                continue
            if shared is None:
                runtimes = {str(f.get("runtime") or provider.get("runtime") or "")
                            for f in functions.values()}  # fmt: skip
                shared = self._build(self._patterns(self.service_package), runtimes)
            out[key] = shared
        return out

    def _patterns(self, package: Mapping[str, Any]) -> list[str]:
        patterns = [str(p) for p in package.get("patterns") or []]
        # The Framework's older spellings, still read by v3.
        patterns += [str(p) for p in package.get("include") or []]
        patterns += [f"!{p}" for p in package.get("exclude") or []]
        return patterns

    def _artifact(self, path: str) -> Package:
        file = (self.dir / path).resolve()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"package.artifact {path}: {exc.strerror}") from None
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ConfigError(f"package.artifact {path}: not a zip file")
        return Package(data, hashlib.sha256(data).hexdigest(), -1)

    def _build(self, patterns: list[str], runtimes: set[str]) -> Package:
        sources = {path: self.dir / path for path in select(self.files(), patterns)}
        for runtime in sorted(runtimes):
            deps = self._dependencies(runtime)
            if deps is None:
                continue
            for path in _walk(deps):
                sources.setdefault(path, deps / path)  # the service's own files win
        if not sources:
            raise ConfigError("the package is empty: package.patterns leave no file")
        return build_zip(sources, self.compress)

    # ----- dependencies ---------------------------------------------------------------------
    def _dependencies(self, runtime: str) -> Path | None:
        """A directory of installed dependencies to add at the package's root, if any."""
        if runtime.startswith("python"):
            requirements = self.dir / "requirements.txt"
            if requirements.is_file() and requirements.read_text().strip():
                return self._pip(runtime, requirements)
        elif runtime.startswith("nodejs"):
            manifest = self.dir / "package.json"
            if manifest.is_file() and not (self.dir / "node_modules").exists():
                return self._npm(manifest)
        return None

    def _cached(self, kind: str, parts: Iterable[bytes],
                install: Callable[[Path], None]) -> Path:  # fmt: skip
        digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:32]
        target = self.cache / kind / digest
        if (target / ".complete").exists():
            return target / "root"
        shutil.rmtree(target, ignore_errors=True)
        (target / "root").mkdir(parents=True)
        install(target / "root")
        (target / ".complete").touch()
        return target / "root"

    def _pip(self, runtime: str, requirements: Path) -> Path:
        version = runtime.removeprefix("python")
        here = f"{sys.version_info.major}.{sys.version_info.minor}"

        def install(root: Path) -> None:
            self.log(f"installing requirements.txt for {runtime}")
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(root),
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(requirements),
            ]
            if version != here:  # wheels for the function's interpreter, not this one
                command += ["--python-version", version, "--only-binary=:all:",
                            "--implementation", "cp"]  # fmt: skip
            _run(command, "pip", self.dir)
            for cache_dir in root.rglob("__pycache__"):
                shutil.rmtree(cache_dir, ignore_errors=True)

        return self._cached("pip", [runtime.encode(), requirements.read_bytes()], install)

    def _npm(self, manifest: Path) -> Path | None:
        import json

        try:
            dependencies = json.loads(manifest.read_text()).get("dependencies") or {}
        except ValueError as exc:
            raise ConfigError(f"package.json: {exc}") from None
        if not dependencies:
            return None
        lock = self.dir / "package-lock.json"
        npm = shutil.which("npm")
        if npm is None:
            raise ConfigError("package.json has dependencies and there is no node_modules; "
                              "installing them needs npm on PATH")  # fmt: skip

        def install(root: Path) -> None:
            self.log("installing package.json dependencies")
            document = json.loads(manifest.read_text())
            local = {name: spec for name, spec in dependencies.items()
                     if isinstance(spec, str) and spec.startswith("file:")
                     and not spec[5:].startswith("/")}  # fmt: skip
            for name, spec in local.items():  # installed elsewhere: made absolute
                document["dependencies"][name] = "file:" + str((self.dir / spec[5:]).resolve())
            use_lock = lock.exists() and not local  # a rewritten manifest no longer matches it
            if use_lock:
                shutil.copy(lock, root / "package-lock.json")
            else:  # never packaged; without a lock npm would still resolve them
                document.pop("devDependencies", None)
            (root / "package.json").write_text(json.dumps(document))
            _run(
                [
                    npm,
                    "ci" if use_lock else "install",
                    "--omit=dev",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--install-links",
                ],
                "npm",
                root,
            )
            for name in ("package.json", "package-lock.json"):
                (root / name).unlink(missing_ok=True)
            (root / "node_modules" / ".package-lock.json").unlink(missing_ok=True)

        parts = [manifest.read_bytes(), lock.read_bytes() if lock.exists() else b""]
        return self._cached("npm", parts, install)


def _run(command: list[str], tool: str, cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ConfigError(f"{tool} failed ({done.returncode}): " + " / ".join(detail))

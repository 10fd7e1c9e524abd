"""Packages a service's functions as the Framework does: the service's files through
`package.patterns` (per function with `individually`), a prebuilt `artifact`, and the
dependencies of requirements.txt / package.json installed into the package (as the
serverless-python-requirements plugin does), cached by their content."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wcmatch import glob

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


# micromatch's defaults as the Framework calls it: `**` crosses directories, braces expand,
# classes match, dotfiles match like any other file.
GLOB_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.SPLIT


def _matches(pattern: str, path: str) -> bool:
    """Whether a pattern names the file or a directory it is in (`!tests` is all of tests/,
    as globby expands a directory)."""
    pattern = pattern.removeprefix("./")
    parts = path.split("/")
    return any(glob.globmatch("/".join(parts[:n]), pattern, flags=GLOB_FLAGS)
               for n in range(len(parts), 0, -1))  # fmt: skip


def select(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The paths kept after the defaults and then `patterns` in order (`!glob` excludes)."""
    patterns = [*(f"!{g}" for g in DEFAULT_EXCLUDES), *patterns]
    kept = []
    for path in paths:
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            if _matches(pattern[1:] if negated else pattern, path):
                keep = not negated
        if keep:
            kept.append(path)
    return kept


def _walk(root: Path) -> list[str]:
    """Every file under root, relative and sorted (links followed as the Framework does;
    broken links, like an editor's lock files, left out)."""
    found: list[str] = []
    for directory, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if d not in (".git", ".serverless", ".firebox")]
        base = Path(directory).relative_to(root)
        found.extend((base / name).as_posix() for name in files
                     if os.path.isfile(os.path.join(directory, name)))  # fmt: skip
    return sorted(found)


def build_zip(sources: Mapping[str, Path], compress: bool = True) -> Package:
    """A deterministic zip of `archive path → file` (sorted, fixed times, modes kept);
    stored rather than deflated when `compress` is off (the dev loop: speed over size)."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    count = 0
    with zipfile.ZipFile(buffer, "w", method, compresslevel=6 if compress else None) as archive:
        for name in sorted(sources):
            path = sources[name]
            try:
                mode = path.stat().st_mode
                content = path.read_bytes()
            except FileNotFoundError:
                continue  # gone since the walk (an editor's temporary file)
            except OSError as exc:
                raise ConfigError(f"cannot package {name}: {exc.strerror}") from None
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = ((0o755 if mode & 0o111 else 0o644) | 0o100000) << 16
            info.compress_type = method
            archive.writestr(info, content)
            count += 1
    data = buffer.getvalue()
    return Package(data, hashlib.sha256(data).hexdigest(), count)


class Packager:
    """Builds the packages of a resolved service; dependencies cached under `cache_dir`."""

    def __init__(
        self,
        config: Mapping[str, Any],
        service_dir: Path,
        cache_dir: Path,
        log: Callable[[str], None] = lambda line: None,
        compress: bool = True,
        config_name: str = "serverless.yml",
    ) -> None:
        self.compress = compress
        self.config_name = config_name  # (-c other.yml: never packaged either)
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

    def layers(self) -> dict[str, Package]:
        """Each of the service's own layers (`layers:`), by its key: the files under its
        path (through its patterns), or its prebuilt artifact."""
        out = {}
        for key, layer in (self.config.get("layers") or {}).items():
            if not isinstance(layer, dict):
                raise ConfigError(f"layers.{key}: expected an object with a path")
            package = dict(layer.get("package") or {})
            if package.get("artifact"):
                out[key] = self._artifact(str(package["artifact"]))
                continue
            if not isinstance(layer.get("path"), str):
                raise ConfigError(f"layers.{key}: a path (or package.artifact) is required")
            root = (self.dir / layer["path"]).resolve()
            if not root.is_dir():
                raise ConfigError(f"layers.{key}: {layer['path']} is not a directory")
            files = select(_walk(root), self._patterns(package))
            if not files:
                raise ConfigError(f"layers.{key}: the layer is empty")
            out[key] = build_zip({name: root / name for name in files}, self.compress)
        return out

    def _layer_excludes(self) -> list[str]:
        """The layers' directories: never in the functions' packages (as the Framework)."""
        return [f"!{glob.escape(str(layer['path']).strip('/'))}/**"
                for layer in (self.config.get("layers") or {}).values()
                if isinstance(layer, dict) and isinstance(layer.get("path"), str)]  # fmt: skip

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
        patterns = [f"!{glob.escape(self.config_name)}", *self._layer_excludes(), *patterns]
        sources = {path: self.dir / path for path in select(self.files(), patterns)}
        sources.update(self._outside(patterns))
        sources = self._without_dev_modules(sources)
        for runtime in sorted(runtimes):
            deps = self._dependencies(runtime)
            if deps is None:
                continue
            for path in _walk(deps):
                sources.setdefault(path, deps / path)  # the service's own files win
        if not sources:
            raise ConfigError("the package is empty: package.patterns leave no file")
        return build_zip(sources, self.compress)

    def _outside(self, patterns: list[str]) -> dict[str, Path]:
        """Files `../shared/**`-style patterns add from beside the service, packaged without
        the leading `../` (as the Framework packages them)."""
        found: dict[str, Path] = {}
        for pattern in patterns:
            if not pattern.startswith("../"):
                continue
            rest, root = pattern, self.dir
            while rest.startswith("../"):
                rest, root = rest[3:], root.parent
            head = rest.split("/", 1)[0]
            if not head or glob.is_magic(head, flags=GLOB_FLAGS):
                raise ConfigError(f"package.patterns {pattern}: name the directory it reads "
                                  "from (../shared/**), not a pattern")  # fmt: skip
            base = root / head
            if not base.exists() or self.dir.resolve().is_relative_to(base.resolve()):
                continue  # absent, or the service itself (already walked)
            candidates = [f"{head}/{p}" for p in _walk(base)] if base.is_dir() else [head]
            later = [p for p in patterns[patterns.index(pattern) + 1:]
                     if p.startswith("!../")]  # fmt: skip
            for name in candidates:
                if _matches(rest, name) and not any(_matches(p[1:].lstrip("./"), name)
                                                    for p in later):  # fmt: skip
                    found[name] = root / name
        return found

    def _without_dev_modules(self, sources: dict[str, Path]) -> dict[str, Path]:
        """A node_modules the service ships, without the packages only devDependencies need
        (as the Framework leaves them out; npm says which they are)."""
        manifest = self.dir / "package.json"
        if not any(name.startswith("node_modules/") for name in sources):
            return sources
        try:
            dev = json.loads(manifest.read_text()).get("devDependencies") if \
                manifest.is_file() else None  # fmt: skip
        except ValueError:
            dev = None
        npm = shutil.which("npm")
        if not dev or npm is None:
            return sources
        done = subprocess.run([npm, "ls", "--omit=dev", "--all", "--parseable"], cwd=self.dir,
                              capture_output=True, text=True, check=False)  # fmt: skip
        production = {Path(line).resolve() for line in done.stdout.splitlines() if line.strip()}
        if not production:
            return sources
        kept = {}
        for name, path in sources.items():
            package = _package_dir(name)
            if package is None or (self.dir / package).resolve() in production:
                kept[name] = path
        return kept

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

        inputs = [runtime.encode(), *_requirement_inputs(requirements, set())]
        return self._cached("pip", inputs, install)

    def _npm(self, manifest: Path) -> Path | None:
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


def _requirement_inputs(path: Path, seen: set[Path]) -> list[bytes]:
    """What a requirements file installs from, for the cache's key: its text, the files it
    includes (-r, -c) and the local packages it names (./lib, -e ../pkg, file:…)."""
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path.name}: {exc.strerror}") from None
    inputs = [text.encode()]
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        for flag in ("-r", "--requirement", "-c", "--constraint"):
            if line.startswith(flag + " ") or line.startswith(flag + "="):
                target = line[len(flag) + 1 :].strip()
                inputs += _requirement_inputs(path.parent / target, seen)
                break
        else:
            local = line.removeprefix("-e ").removeprefix("--editable ").strip()
            local = local.removeprefix("file://").removeprefix("file:")
            if local.startswith(("./", "../", "/")):
                inputs.append(_tree_digest(path.parent / local.split(" ", 1)[0]))
    return inputs


def _tree_digest(target: Path) -> bytes:
    """A local package's state: each file's path, size and time of change."""
    if target.is_file():
        info = target.stat()
        return f"{target}:{info.st_size}:{info.st_mtime_ns}".encode()
    listing = []
    for name in _walk(target) if target.is_dir() else []:
        info = (target / name).stat()
        listing.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(listing).encode()).hexdigest().encode()


def _package_dir(name: str) -> str | None:
    """The node_modules package a packaged file belongs to (its deepest), if any."""
    parts = name.split("/")
    found = None
    for i, part in enumerate(parts[:-1]):
        if part == "node_modules" and i + 1 < len(parts) - 1:
            width = 2 if parts[i + 1].startswith("@") else 1
            found = "/".join(parts[: i + 1 + width])
    return found


def _run(command: list[str], tool: str, cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ConfigError(f"{tool} failed ({done.returncode}): " + " / ".join(detail))

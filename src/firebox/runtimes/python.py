"""The Python language: python3.8–3.14 on the host's interpreters, firebox's runtime inside.

An isolated environment sees firebox's runtime at /var/runtime, the bundled AWS SDK at
/var/sdk (3.10+), and an interpreter from outside /usr (a pyenv build) at /var/lang/<name>,
as on Lambda; its zygote starts the runtime in-process rather than exec'ing it.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
from pathlib import Path

from firebox.runtimes.base import RUNTIME_ROOT, Launch, Runtime, layers_root
from firebox.runtimes.sdk import INSIDE as SDK_INSIDE
from firebox.runtimes.sdk import Sdk
from firebox.sandboxes.base import Mount

VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
# firebox's Python runtime (code that runs inside environments), seen there as /var/runtime
RUNTIME_DIR = Path(__file__).parent / "inside" / "python"


def _is_shim(path: str) -> bool:
    # pyenv shims re-resolve the interpreter on every start (~150 ms): never use them.
    return "/shims/" in path


def _candidates(version: str) -> list[str]:
    exe = f"python{version}"
    found = [f"/usr/local/bin/{exe}", f"/usr/bin/{exe}"]
    on_path = shutil.which(exe)
    if on_path:
        found.append(on_path)
    home = os.path.expanduser("~")
    found.extend(sorted(glob.glob(f"{home}/.pyenv/versions/{version}*/bin/{exe}"), reverse=True))
    return [p for p in found if not _is_shim(p)]


def discover_interpreters() -> dict[str, str]:
    """Finds a real interpreter for each python3.X runtime installed on this host."""
    interpreters: dict[str, str] = {}
    for version in VERSIONS:
        for path in _candidates(version):
            if os.path.isfile(path) and os.access(path, os.X_OK):
                interpreters[f"python{version}"] = os.path.realpath(path)
                break
    return interpreters


def _sort_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.removeprefix("python").split(".") if p.isdigit())


@functools.cache
def _place(interpreter: str) -> tuple[str, str, str] | None:
    """An interpreter's real path, the prefix holding it and where that prefix is mounted
    inside; None for one under /usr (seen at its own path). Once per interpreter: realpath
    costs a syscall per path component."""
    real = os.path.realpath(interpreter)
    if real.startswith("/usr/"):
        return None
    prefix = str(Path(real).parent.parent)
    return real, prefix, f"/var/lang/{Path(prefix).name}"


class PythonLanguage:
    """Python runtimes: discovered interpreters, operator overrides winning."""

    name = "python"

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.interpreters = discover_interpreters()
        for name, path in (overrides or {}).items():
            if not os.access(path, os.X_OK):
                raise ValueError(f"runtime {name}: interpreter {path} is not executable")
            self.interpreters[name] = path
        self.sdk: Sdk | None = None  # bundled into the interpreters it supports, once prepared

    def runtimes(self) -> list[str]:
        return sorted(self.interpreters, key=_sort_key)

    def claims(self, name: str) -> bool:
        return name.startswith("python")

    def resolve(self, name: str) -> Runtime | None:
        interpreter = self.interpreters.get(name)
        return Runtime(name, self.name, interpreter) if interpreter else None

    def missing(self, name: str) -> str:
        if name.removeprefix("python") in VERSIONS:
            return (
                f"no {name} interpreter was found here; install one, or map it with "
                f"`firebox serve --runtime {name}=/path/to/{name}`"
            )
        return "it is not a runtime firebox knows"

    def launch(
        self, runtime: Runtime, task_root: str, mounted: bool, memory_mb: int = 128,
        opt_dir: Path | None = None,
    ) -> Launch:  # fmt: skip
        opt_root = layers_root(mounted, opt_dir)
        assert runtime.interpreter is not None
        interpreter = runtime.interpreter
        mounts = []
        lang_lib = None
        runtime_root, argv0 = str(RUNTIME_DIR), interpreter
        place = _place(interpreter) if mounted else None
        if mounted:
            runtime_root = RUNTIME_ROOT
            mounts.append(Mount(str(RUNTIME_DIR), RUNTIME_ROOT))
        if place is not None:
            # Only its own interpreter's prefix: each is two mounts to make and tear down per
            # environment (a Lambda runtime's image holds only its own language).
            real, prefix, inside = place
            mounts.append(Mount(prefix, inside))
            argv0, lang_lib = inside + real[len(prefix) :], inside + "/lib"
        sdk_root = None
        if self.sdk is not None and self.sdk.supports(interpreter):
            sdk_root = SDK_INSIDE if mounted else str(self.sdk.path)
            if mounted:
                mounts.append(Mount(str(self.sdk.path), SDK_INSIDE))
        library_path = (
            f"/lib64:/usr/lib64:{runtime_root}:{task_root}:{task_root}/lib:{opt_root}/lib"
        )
        if lang_lib:  # the interpreter's own libpython, ahead of its (host) RUNPATH
            library_path = f"{lang_lib}:{library_path}"
        # As on Lambda: the runtime's own files, then the bundled SDK (behind the function's
        # code and layers, which the runtime puts first).
        python_path = f"{runtime_root}:{sdk_root}" if sdk_root else runtime_root
        environ = {"LAMBDA_RUNTIME_DIR": runtime_root, "PYTHONPATH": python_path,
                   "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime.name}"}  # fmt: skip
        if opt_root != "/opt":  # layers at their host path (plain processes): the runtime asks
            environ["FIREBOX_OPT_ROOT"] = opt_root
        # For the zygote, which starts the runtime in-process: its module paths from the host
        # to inside (a /var/lang interpreter's stdlib moved), and the sys.path front.
        in_process = {
            "path_map": {place[1]: place[2]} if place else {},
            "host_paths": (str(RUNTIME_DIR),),
            "front_paths": [p for p in (RUNTIME_ROOT, sdk_root if mounted else None) if p],
        }
        return Launch((argv0, "-S", f"{runtime_root}/bootstrap.py"), environ, library_path,
                      tuple(mounts), interpreter, in_process)  # fmt: skip

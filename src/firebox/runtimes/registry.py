"""Which runtimes this host can run, and the interpreter behind each Python one."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from firebox.domain.errors import InvalidParameterValueException

PYTHON_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
PROVIDED_RUNTIMES = ("provided.al2023", "provided.al2", "provided")
RUNTIME_DIR = Path(__file__).parent / "python"  # firebox's Python runtime, as /var/runtime


@dataclass(frozen=True)
class Runtime:
    """A runtime a function can name: either a Python interpreter or a custom `bootstrap`."""

    name: str
    interpreter: str | None = None  # None for provided runtimes: the zip's bootstrap is the runtime

    @property
    def is_python(self) -> bool:
        return self.interpreter is not None


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
    for version in PYTHON_VERSIONS:
        for path in _candidates(version):
            if os.path.isfile(path) and os.access(path, os.X_OK):
                interpreters[f"python{version}"] = os.path.realpath(path)
                break
    return interpreters


class RuntimeRegistry:
    """Resolves runtime names to what runs them; operator overrides win over discovery."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self._interpreters = discover_interpreters()
        for name, path in (overrides or {}).items():
            if not os.access(path, os.X_OK):
                raise ValueError(f"runtime {name}: interpreter {path} is not executable")
            self._interpreters[name] = path

    def interpreters(self) -> dict[str, str]:
        return dict(self._interpreters)

    def available(self) -> list[str]:
        return sorted(self._interpreters, key=_sort_key) + list(PROVIDED_RUNTIMES)

    def resolve(self, name: str) -> Runtime:
        """Returns the runtime, or raises InvalidParameterValueException saying why not and
        naming the ones there are."""
        if name in PROVIDED_RUNTIMES:
            return Runtime(name)
        interpreter = self._interpreters.get(name)
        if interpreter is None:
            raise InvalidParameterValueException(
                f"The runtime parameter of {name} is not supported on this firebox host: "
                f"{_why_missing(name)}. Available runtimes: {', '.join(self.available())}"
            )
        return Runtime(name, interpreter)


# Lambda's runtime families firebox has no runtime for (yet); a name of one is not a typo.
_OTHER_LANGUAGES = (("nodejs", "Node.js"), ("java", "Java"), ("dotnet", ".NET"), ("ruby", "Ruby"))


def _why_missing(name: str) -> str:
    """Why a runtime name does not resolve, in words that say what to do about it."""
    language = next((lang for prefix, lang in _OTHER_LANGUAGES if name.startswith(prefix)), None)
    if language is not None:
        return f"firebox has no {language} runtime yet, only Python and provided (custom) ones"
    version = name.removeprefix("python")
    if name.startswith("python") and version in PYTHON_VERSIONS:
        return (
            f"no {name} interpreter was found here; install one, or map it with "
            f"`firebox serve --runtime {name}=/path/to/{name}`"
        )
    return "it is not a runtime firebox knows"


def _sort_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in name.removeprefix("python").split("."))

"""Which runtimes this host can run: the languages' adapters, asked in turn."""

from __future__ import annotations

from pathlib import Path

from firebox.domain.errors import InvalidParameterValueException
from firebox.runtimes.base import Language, Launch, Runtime
from firebox.runtimes.node import NodeLanguage
from firebox.runtimes.provided import NAMES as PROVIDED_RUNTIMES
from firebox.runtimes.provided import ProvidedLanguage
from firebox.runtimes.python import RUNTIME_DIR, PythonLanguage
from firebox.runtimes.python import VERSIONS as PYTHON_VERSIONS

__all__ = ["PROVIDED_RUNTIMES", "PYTHON_VERSIONS", "RUNTIME_DIR", "Runtime", "RuntimeRegistry"]

# Lambda's runtime families firebox has no adapter for (yet): a name of one is not a typo.
_OTHER_LANGUAGES = (("java", "Java"), ("dotnet", ".NET"), ("ruby", "Ruby"))


class RuntimeRegistry:
    """Resolves runtime names through the languages; operator overrides win."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        overrides = overrides or {}
        node = {k: v for k, v in overrides.items() if k.startswith("nodejs")}
        self.python = PythonLanguage({k: v for k, v in overrides.items() if k not in node})
        self.node = NodeLanguage(node)
        self.languages: dict[str, Language] = {
            language.name: language for language in (self.python, self.node, ProvidedLanguage())
        }

    def interpreters(self) -> dict[str, str]:
        """The Python runtimes' interpreters (each gets a zygote)."""
        return dict(self.python.interpreters)

    def available(self) -> list[str]:
        return [name for language in self.languages.values() for name in language.runtimes()]

    def resolve(self, name: str) -> Runtime:
        """Returns the runtime, or raises InvalidParameterValueException saying why not and
        naming the ones there are."""
        claimed = next((lang for lang in self.languages.values() if lang.claims(name)), None)
        runtime = claimed.resolve(name) if claimed else None
        if runtime is not None:
            return runtime
        other = next((lang for prefix, lang in _OTHER_LANGUAGES if name.startswith(prefix)), None)
        if other is not None:
            why = f"firebox has no {other} runtime yet, only Python, Node.js and provided ones"
        else:
            why = claimed.missing(name) if claimed else "it is not a runtime firebox knows"
        raise InvalidParameterValueException(
            f"The runtime parameter of {name} is not supported on this firebox host: {why}. "
            f"Available runtimes: {', '.join(self.available())}"
        )

    def launch(
        self, runtime: Runtime, task_root: str, mounted: bool, memory_mb: int = 128,
        opt_dir: Path | None = None,
    ) -> Launch:  # fmt: skip
        """How the runtime starts (its language's adapter says)."""
        language = self.languages[runtime.language]
        return language.launch(runtime, task_root, mounted, memory_mb, opt_dir)

"""Custom runtimes (provided.al2023, provided.al2, provided): the function's zip brings its own
`bootstrap`, which speaks the Runtime API itself (e.g. AWS's awslambdaric)."""

from __future__ import annotations

from pathlib import Path

from firebox.runtimes.base import RUNTIME_ROOT, Launch, Runtime, layers_root
from firebox.runtimes.python import RUNTIME_DIR
from firebox.sandboxes.base import Mount

NAMES = ("provided.al2023", "provided.al2", "provided")


class ProvidedLanguage:
    """The zip's ./bootstrap is the runtime: exec'd in the sandbox, no interpreter of ours."""

    name = "provided"

    def runtimes(self) -> list[str]:
        return list(NAMES)

    def claims(self, name: str) -> bool:
        return name in NAMES

    def resolve(self, name: str) -> Runtime | None:
        return Runtime(name, self.name) if name in NAMES else None

    def missing(self, name: str) -> str:
        return "it is not a runtime firebox knows"

    def launch(
        self, runtime: Runtime, task_root: str, mounted: bool, memory_mb: int = 128,
        opt_dir: Path | None = None,
    ) -> Launch:  # fmt: skip
        opt_root = layers_root(mounted, opt_dir)
        # /var/runtime holds firebox's runtime files here too (a bootstrap may use them, as
        # the tests' own custom runtimes do).
        runtime_root = RUNTIME_ROOT if mounted else str(RUNTIME_DIR)
        mounts = (Mount(str(RUNTIME_DIR), RUNTIME_ROOT),) if mounted else ()
        library_path = (
            f"/lib64:/usr/lib64:{runtime_root}:{task_root}:{task_root}/lib:{opt_root}/lib"
        )
        return Launch((f"{task_root}/bootstrap",), {"LAMBDA_RUNTIME_DIR": runtime_root},
                      library_path, mounts)  # fmt: skip

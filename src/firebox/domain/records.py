"""The stored shape of a function and its AWS configuration rendering."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from firebox.domain.layers import LayerUse

LATEST = "$LATEST"


def iso_timestamp(epoch_s: float) -> str:
    """Formats a time as Lambda's LastModified does: 2024-01-31T12:00:00.000+0000."""
    millis = int(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{millis:03d}+0000"


def utc_stamp(epoch_s: float | None = None) -> str:
    """2024-01-31T12:00:00.000Z, as Lambda's timeout messages start."""
    now = time.time() if epoch_s is None else epoch_s
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


@dataclass(frozen=True)
class FunctionRecord:
    """One function's $LATEST configuration and code, as stored."""

    name: str
    runtime: str
    role: str
    handler: str
    code_sha256: str  # hex digest: the code store's key
    code_size: int
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    ephemeral_storage: int = 512
    architectures: tuple[str, ...] = ("x86_64",)
    revision_id: str = ""
    last_modified: float = 0.0
    created: float = 0.0
    version: str = LATEST  # "$LATEST", or the number of an immutable published version
    tags: dict[str, str] = field(default_factory=dict)  # kept on $LATEST only
    # A published version: the $LATEST RevisionId it was taken from (publishing again with
    # nothing changed since returns it instead of a new version, as Lambda does).
    source_revision: str = ""
    dead_letter_target: str = ""  # a function that receives events whose retries ran out
    reserved_concurrency: int | None = None  # kept on $LATEST only; not configuration
    layers: tuple[LayerUse, ...] = ()  # in order: a later layer's files win in /opt
    # LoggingConfig: Text or JSON; in JSON the levels (INFO unless set); "" log group: the
    # function's own /aws/lambda/<name>.
    log_format: str = "Text"
    application_log_level: str = ""
    system_log_level: str = ""
    log_group: str = ""

    def updated(self, **changes: object) -> FunctionRecord:
        """Returns a copy with the changes applied (revision handling is the caller's)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def code_sha256_b64(self) -> str:
        import base64

        return base64.b64encode(bytes.fromhex(self.code_sha256)).decode()

    @property
    def generation(self) -> tuple[str, str]:
        """Identifies what an environment runs: a change of code or configuration retires it."""
        return (self.name, self.revision_id)

    @property
    def release_key(self) -> tuple[object, ...]:
        """What publishing snapshots: equal keys mean nothing changed since the last version."""
        return (self.code_sha256, self.runtime, self.role, self.handler, self.timeout,
                self.memory_size, sorted(self.environment.items()), self.ephemeral_storage,
                self.architectures, self.dead_letter_target, self.layers, self.log_format,
                self.application_log_level, self.system_log_level, self.log_group)  # fmt: skip

    @property
    def published(self) -> bool:
        return self.version != LATEST

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class AliasRecord:
    """A named, movable pointer to a version, optionally splitting traffic with a second one."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    # At most one additional version and the share of invokes (0.0–1.0) it receives.
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str = ""

    def updated(self, **changes: object) -> AliasRecord:
        return replace(self, **changes)  # type: ignore[arg-type]

"""The stored shape of a function and its AWS configuration rendering."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from firebox.arns import ArnBuilder
from firebox.types import JSONDict

LATEST = "$LATEST"


def iso_timestamp(epoch_s: float) -> str:
    """Formats a time as Lambda's LastModified does: 2024-01-31T12:00:00.000+0000."""
    millis = int(epoch_s * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)) + f".{millis:03d}+0000"


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

    def configuration(self, arns: ArnBuilder) -> JSONDict:
        """Renders the FunctionConfiguration shape of the Lambda API."""
        config: JSONDict = {
            "FunctionName": self.name,
            "FunctionArn": arns.function(self.name),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": iso_timestamp(self.last_modified),
            "CodeSha256": self.code_sha256_b64,
            "Version": LATEST,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.name}"},
        }
        if self.environment:
            config["Environment"] = {"Variables": dict(self.environment)}
        return config

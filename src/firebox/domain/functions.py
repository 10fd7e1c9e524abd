"""What a caller asks of functions, as typed values, and Lambda's limits on them.

The control plane takes these, whoever the caller: the Lambda API (which parses AWS request
bodies into them), the CLI, a deploy tool. Checks raise `ConstraintError` (a member outside
the model's constraints) or `InvalidParameterValueException` with Lambda's own wording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from firebox.domain import destinations
from firebox.domain.errors import ConstraintError, InvalidParameterValueException, range_error
from firebox.domain.layers import check_layer_arns

HANDLER_RE = re.compile(r"^[^\s]{1,128}$")
ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
LOG_GROUP_RE = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")
ENV_LIMIT_BYTES = 4096
MAX_TAGS = 50
# Lambda reserves these; setting them is refused like AWS does.
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
        "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip


@dataclass(frozen=True)
class FunctionConfig:
    """Configuration to set: on a new function, the members given (the rest default); on an
    update, the members to change. None means not given."""

    runtime: str | None = None
    role: str | None = None
    handler: str | None = None
    description: str | None = None
    timeout: int | None = None
    memory_size: int | None = None
    environment: Mapping[str, str] | None = None
    ephemeral_storage: int | None = None
    architectures: tuple[str, ...] | None = None
    dead_letter_target: str | None = None  # "" removes it
    layers: tuple[str, ...] | None = None  # layer version ARNs, in order; () removes them all
    logging: LoggingConfig | None = None  # replaces the whole LoggingConfig when given

    def changes(self) -> dict[str, Any]:
        """The members given, checked, as fields of a FunctionRecord."""
        self.check()
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        values = {name: value for name, value in given.items() if value is not None}
        if "environment" in values:
            values["environment"] = dict(values["environment"])
        logging = values.pop("logging", None)
        if logging is not None:
            values.update(logging.fields())
        return values

    def check(self) -> None:
        """Lambda's limits on every member given."""
        if self.role is not None and not ROLE_RE.match(self.role):
            raise ConstraintError(
                self.role, "role", "Member must satisfy regular expression pattern: "
                "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            )  # fmt: skip
        if self.handler is not None and not HANDLER_RE.match(self.handler):
            raise ConstraintError(
                self.handler, "handler", "Member must satisfy regular expression pattern: "
                "[^\\s]+ and have length less than or equal to 128",
            )  # fmt: skip
        if self.handler is not None and not _is_text(self.handler):
            raise InvalidParameterValueException(
                "The handler may not contain NUL characters or unpaired surrogates."
            )
        if self.description is not None and len(self.description) > 256:
            raise ConstraintError(
                self.description, "description", "Member must have length less than or equal to 256"
            )
        if self.timeout is not None and not 1 <= self.timeout <= 900:
            raise range_error(self.timeout, "timeout", 1, 900)
        if self.memory_size is not None and not 128 <= self.memory_size <= 10240:
            raise range_error(self.memory_size, "memorySize", 128, 10240)
        if self.ephemeral_storage is not None and not 512 <= self.ephemeral_storage <= 10240:
            raise range_error(self.ephemeral_storage, "ephemeralStorage.size", 512, 10240)
        if self.environment is not None:
            check_environment(self.environment)
        if self.architectures is not None and tuple(self.architectures) != ("x86_64",):
            raise InvalidParameterValueException(
                f"Unsupported architectures {list(self.architectures)}: firebox runs x86_64 "
                "functions only."
            )
        if self.dead_letter_target:
            destinations.validated(self.dead_letter_target, "dead-letter target")
        if self.layers is not None:
            check_layer_arns(self.layers)
        if self.logging is not None:
            self.logging.check()


LOG_FORMATS = ("Text", "JSON")
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")


@dataclass(frozen=True)
class LoggingConfig:
    """A function's LoggingConfig: its log format, levels (JSON only) and log group."""

    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group: str | None = None

    def check(self) -> None:
        if self.log_format is not None and self.log_format not in LOG_FORMATS:
            raise ConstraintError(self.log_format, "loggingConfig.logFormat",
                                  "Member must satisfy enum value set: [JSON, Text]")  # fmt: skip
        json_format = self.log_format == "JSON"
        for value, name, allowed in (
            (self.application_log_level, "ApplicationLogLevel", APPLICATION_LEVELS),
            (self.system_log_level, "SystemLogLevel", SYSTEM_LEVELS),
        ):
            if value is None:
                continue
            if value not in allowed:
                raise ConstraintError(
                    value,
                    f"loggingConfig.{name[0].lower()}{name[1:]}",
                    f"Member must satisfy enum value set: [{', '.join(allowed)}]",
                )
            if not json_format:
                raise InvalidParameterValueException(
                    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel '
                    'from your request or change the LogFormat to "JSON" and try again.'
                )
        if self.log_group is not None and not LOG_GROUP_RE.match(self.log_group):
            raise ConstraintError(self.log_group, "loggingConfig.logGroup",
                                  "Member must satisfy regular expression pattern: "
                                  "[\\.\\-_/#A-Za-z0-9]+")  # fmt: skip

    def fields(self) -> dict[str, str]:
        """The FunctionRecord fields it sets: all of them (in JSON, levels default to INFO)."""
        json_format = self.log_format == "JSON"
        return {
            "log_format": self.log_format or "Text",
            "application_log_level": (self.application_log_level or "INFO") if json_format else "",
            "system_log_level": (self.system_log_level or "INFO") if json_format else "",
            "log_group": self.log_group or "",
        }


@dataclass(frozen=True)
class NewFunction:
    """A function to create: its name, configuration (runtime, role and handler at least) and
    code (a zip)."""

    name: str
    config: FunctionConfig
    code: bytes
    tags: Mapping[str, str] = field(default_factory=dict)
    publish: bool = False  # publish version 1 at once


def check_environment(variables: Mapping[str, str]) -> None:
    """Environment variables: names, reserved keys, and the 4 KB limit."""
    for key in variables:
        if not ENV_KEY_RE.match(key):
            raise ConstraintError(
                key, "environment.variables",
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            )  # fmt: skip
    for key, value in variables.items():
        if not _is_text(value):  # no process environment can hold it: every start would fail
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the value "
                f"of {key} contains a NUL character or an unpaired surrogate."
            )
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(dict(variables), separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. "
            f"String measured: {measured[:1024]}{'…(truncated)' if len(measured) > 1024 else ''}"
        )


def _is_text(value: str) -> bool:
    """Text an exec'd process can be given: no NUL, and encodable (no lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A Tags map as Lambda allows it (≤ 50, keys 1–128, values ≤ 256, no aws: prefix)."""
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(
            f"Number of tags exceeds resource tag limit ({MAX_TAGS})."
        )
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise InvalidParameterValueException(
                f"Tag key must be 1-128 characters and value at most 256 characters: {key}"
            )
        if key.lower().startswith("aws:"):
            raise InvalidParameterValueException(
                f"Tag keys starting with 'aws:' are reserved: {key}"
            )
    return dict(tags)

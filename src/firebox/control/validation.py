"""Validation of control-plane request bodies into typed values, with AWS's messages."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from firebox.domain import destinations
from firebox.domain.arns import NAME_RE
from firebox.domain.errors import InvalidParameterValueException, InvalidRequestContentException
from firebox.domain.types import JSONDict

HANDLER_RE = re.compile(r"^[^\s]{1,128}$")
ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
ENV_LIMIT_BYTES = 4096
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


def range_error(value: int, member: str, low: int, high: int) -> InvalidParameterValueException:
    """AWS's wording for a number out of range: it names the bound that was crossed."""
    if value < low:
        return constraint_error(
            value, member, f"Member must have value greater than or equal to {low}"
        )
    return constraint_error(value, member, f"Member must have value less than or equal to {high}")


def constraint_error(value: object, member: str, constraint: str) -> InvalidParameterValueException:
    """Builds the AWS-style '1 validation error detected' message."""
    return InvalidParameterValueException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def parse_json_body(raw: bytes) -> JSONDict:
    """Parses a control-plane request body, which must be a JSON object."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc.__class__.__name__}: {exc}"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: not an object"
        )
    return body


def _typed(body: JSONDict, key: str, kind: type | tuple[type, ...], member: str) -> Any:
    value = body.get(key)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    ):
        raise InvalidRequestContentException(
            f"Could not parse request body into json: unexpected type for field '{member}'"
        )
    return value


@dataclass(frozen=True)
class ConfigChanges:
    """The configuration fields a CreateFunction or UpdateFunctionConfiguration sets."""

    values: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def config_changes(body: JSONDict) -> ConfigChanges:
    """Validates the configuration members shared by create and update requests."""
    values: dict[str, Any] = {}
    runtime = _typed(body, "Runtime", str, "runtime")
    if runtime is not None:
        values["runtime"] = runtime
    role = _typed(body, "Role", str, "role")
    if role is not None:
        if not ROLE_RE.match(role):
            raise constraint_error(
                role, "role", "Member must satisfy regular expression pattern: "
                "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            )  # fmt: skip
        values["role"] = role
    handler = _typed(body, "Handler", str, "handler")
    if handler is not None:
        if not HANDLER_RE.match(handler):
            raise constraint_error(
                handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+ "
                "and have length less than or equal to 128",
            )  # fmt: skip
        values["handler"] = handler
    description = _typed(body, "Description", str, "description")
    if description is not None:
        if len(description) > 256:
            raise constraint_error(
                description, "description", "Member must have length less than or equal to 256"
            )
        values["description"] = description
    timeout = _typed(body, "Timeout", int, "timeout")
    if timeout is not None:
        if not 1 <= timeout <= 900:
            raise range_error(timeout, "timeout", 1, 900)
        values["timeout"] = timeout
    memory = _typed(body, "MemorySize", int, "memorySize")
    if memory is not None:
        if not 128 <= memory <= 10240:
            raise range_error(memory, "memorySize", 128, 10240)
        values["memory_size"] = memory
    if "Environment" in body:
        values["environment"] = environment_variables(body["Environment"])
    storage = _typed(body, "EphemeralStorage", dict, "ephemeralStorage")
    if storage is not None:
        size = storage.get("Size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise InvalidRequestContentException(
                "Could not parse request body into json: EphemeralStorage.Size must be a number"
            )
        if not 512 <= size <= 10240:
            raise range_error(size, "ephemeralStorage.size", 512, 10240)
        values["ephemeral_storage"] = size
    dead_letter = _typed(body, "DeadLetterConfig", dict, "deadLetterConfig")
    if dead_letter is not None:
        target = dead_letter.get("TargetArn") or ""
        values["dead_letter_target"] = (
            destinations.validated(target, "dead-letter target") if target else ""
        )
    architectures = _typed(body, "Architectures", list, "architectures")
    if architectures is not None:
        if architectures != ["x86_64"]:
            raise InvalidParameterValueException(
                f"Unsupported architectures {architectures}: firebox runs x86_64 functions only."
            )
        values["architectures"] = ("x86_64",)
    return ConfigChanges(values)


def environment_variables(environment: object) -> dict[str, str]:
    """Validates Environment.Variables: names, reserved keys, and the 4 KB limit."""
    if environment is None:
        return {}
    if not isinstance(environment, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: unexpected type for field 'environment'"
        )
    variables = environment.get("Variables") or {}
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise InvalidRequestContentException(
            "Could not parse request body into json: Environment.Variables must map strings"
        )
    for key in variables:
        if not ENV_KEY_RE.match(key):
            raise constraint_error(
                key, "environment.variables",
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            )  # fmt: skip
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            f"variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"))
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. "
            f"String measured: {measured}"
        )
    return dict(variables)


def zip_file(body: JSONDict, *, required: bool) -> bytes | None:
    """Decodes the base64 ZipFile member; S3 and image sources are not supported."""
    if any(k in body for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")):
        raise InvalidParameterValueException(
            "Only ZipFile code is supported by firebox: S3Bucket/S3Key and ImageUri are not."
        )
    code = body.get("Code", body) if required else body
    if not isinstance(code, dict):
        raise InvalidParameterValueException("Code must be an object with a ZipFile member.")
    if any(k in code for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")):
        raise InvalidParameterValueException(
            "Only ZipFile code is supported by firebox: S3Bucket/S3Key and ImageUri are not."
        )
    encoded = code.get("ZipFile")
    if encoded is None:
        if required:
            raise InvalidParameterValueException(
                "Please provide a source for function code (Code.ZipFile)."
            )
        return None
    if not isinstance(encoded, str):
        raise InvalidRequestContentException(
            "Could not parse request body into json: ZipFile must be a base64 string"
        )
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None


def function_name(body: JSONDict) -> str:
    """Validates the FunctionName member of CreateFunction."""
    name = body.get("FunctionName")
    if not isinstance(name, str) or not name:
        raise InvalidParameterValueException("FunctionName is required.")
    # A create may name the function by ARN; only the name part is kept.
    short = name.rsplit(":", 1)[-1] if name.startswith("arn:") else name
    if len(short) > 64:
        raise constraint_error(
            name, "functionName", "Member must have length less than or equal to 64"
        )
    if not NAME_RE.match(short):
        raise constraint_error(
            name, "functionName", "Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        )  # fmt: skip
    return short


def max_items(raw: str | None, default: int = 50) -> int:
    """Parses the MaxItems query parameter (1–10,000)."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise constraint_error(raw, "maxItems", "Member must be a number") from None
    if not 1 <= value <= 10000:
        raise range_error(value, "maxItems", 1, 10000)
    return value

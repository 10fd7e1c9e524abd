"""Parsing of control-plane requests into typed values, with AWS's messages for what is wrong
on the wire (missing or mistyped members); the domain checks the values' limits."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from firebox.api.validation import Violation, describe, render
from firebox.domain.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ValidationException,
)
from firebox.domain.functions import FunctionConfig, LoggingConfig
from firebox.domain.types import JSONDict


def validation_message(value: object, member: str, constraint: str) -> str:
    """AWS's wording for one member outside its model's constraints."""
    return describe([Violation(member, value, constraint)])


def constraint_error(value: object, member: str, constraint: str) -> ValidationException:
    """A request member outside its constraints, found while parsing, in AWS's words."""
    return ValidationException(validation_message(value, member, constraint))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: valid JSON text, but no number a function can echo
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def loads(raw: bytes | str) -> Any:
    """Strict JSON: no NaN or Infinity, numbers in range (ValueError otherwise), nesting as
    deep as the interpreter allows (RecursionError beyond)."""
    return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)


def parse_json_body(raw: bytes) -> JSONDict:
    """Parses a control-plane request body, which must be a JSON object."""
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except RecursionError:
        raise InvalidRequestContentException(
            "Could not parse request body into json: the document is nested too deeply"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc.__class__.__name__}: {render(str(exc))}"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: not an object"
        )
    return body


def typed(body: JSONDict, key: str, kind: type | tuple[type, ...], member: str) -> Any:
    """A member of the expected type, or None when absent (a wrong type is the client's error)."""
    value = body.get(key)
    if value is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    ):
        raise InvalidRequestContentException(
            f"Could not parse request body into json: unexpected type for field '{member}'"
        )
    return value


def function_config(body: JSONDict) -> FunctionConfig:
    """The configuration members of a CreateFunction or UpdateFunctionConfiguration body (their
    limits are the domain's to check)."""
    storage = typed(body, "EphemeralStorage", dict, "ephemeralStorage")
    size = None
    if storage is not None:
        size = storage.get("Size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise InvalidRequestContentException(
                "Could not parse request body into json: EphemeralStorage.Size must be a number"
            )
    dead_letter = typed(body, "DeadLetterConfig", dict, "deadLetterConfig")
    architectures = typed(body, "Architectures", list, "architectures")
    layers = typed(body, "Layers", list, "layers")
    logging = typed(body, "LoggingConfig", dict, "loggingConfig")
    return FunctionConfig(
        runtime=typed(body, "Runtime", str, "runtime"),
        role=typed(body, "Role", str, "role"),
        handler=typed(body, "Handler", str, "handler"),
        description=typed(body, "Description", str, "description"),
        timeout=typed(body, "Timeout", int, "timeout"),
        memory_size=typed(body, "MemorySize", int, "memorySize"),
        environment=environment_variables(body["Environment"]) if "Environment" in body else None,
        ephemeral_storage=size,
        architectures=tuple(architectures) if architectures is not None else None,
        dead_letter_target=(dead_letter.get("TargetArn") or "")
        if dead_letter is not None
        else None,
        layers=tuple(layers) if layers is not None else None,
        logging=LoggingConfig(
            typed(logging, "LogFormat", str, "loggingConfig.logFormat"),
            typed(logging, "ApplicationLogLevel", str, "loggingConfig.applicationLogLevel"),
            typed(logging, "SystemLogLevel", str, "loggingConfig.systemLogLevel"),
            typed(logging, "LogGroup", str, "loggingConfig.logGroup"),
        ) if logging is not None else None,
    )  # fmt: skip


def environment_variables(environment: object) -> dict[str, str]:
    """The Environment member: a map of strings under Variables (None: none)."""
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
    return decode_zip(encoded)


def decode_zip(encoded: object) -> bytes:
    """A ZipFile member's bytes (base64 on the wire)."""
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

"""Values moved between a model's shapes and each protocol's wire form, by walking the shape.

Handlers see plain members with timestamps as epoch seconds (floats), whichever protocol
brought them: JSON numbers, CBOR's tag 1, or the query protocol's ISO 8601 text. Answers go
back the same way: numbers for JSON, tag 1 for CBOR, ISO 8601 and `<member>` lists in XML.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import cbor2
from botocore.model import ListShape, MapShape, Shape, StructureShape

from firebox.api.query import QueryMap
from firebox.api.validation import TypeMismatch


def _epoch(value: Any, path: str) -> float:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    if isinstance(value, bool):
        raise TypeMismatch(path, "a timestamp", value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise TypeMismatch(path, "a timestamp", value)
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise TypeMismatch(path, "a timestamp", value)
            return number
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise TypeMismatch(path, "a timestamp", value) from None
        return _epoch(parsed, path)
    raise TypeMismatch(path, "a timestamp", value)


def timestamps_in(shape: Shape | None, value: Any, path: str = "") -> Any:
    """A parsed body (JSON or CBOR) with its timestamps as epoch seconds."""
    if shape is None or value is None:
        return value
    if shape.type_name == "timestamp":
        return _epoch(value, path)
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {k: timestamps_in(shape.members.get(k), v, f"{path}.{k}".lstrip("."))
                for k, v in value.items()}  # fmt: skip
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [timestamps_in(shape.member, v, path) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: timestamps_in(shape.value, v, path) for k, v in value.items()}
    return value


def _scalar(shape: Shape, raw: str, path: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        digits = raw[1:] if raw.startswith("-") else raw
        if not (digits.isascii() and digits.isdigit()):
            raise TypeMismatch(path, "a number", raw)
        return int(raw)
    if kind in ("double", "float"):
        try:
            return float(raw)
        except ValueError:
            raise TypeMismatch(path, "a number", raw) from None
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise TypeMismatch(path, "a boolean", raw)
        return raw == "true"
    if kind == "timestamp":
        return _epoch(raw, path)
    return raw


def from_form(shape: Shape, params: Mapping[str, str], prefix: str = "") -> Any:
    """The members a query-protocol form gives a shape (`A.B`, `L.member.N`,
    `M.entry.N.key`/`.value`); None when the form has none of it."""
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            found = from_form(member, params, f"{prefix}.{wire}" if prefix else wire)
            if found is not None:
                out[name] = found
        return out if out or not prefix else None
    if isinstance(shape, ListShape):
        items, n = [], 1
        flat = shape.serialization.get("flattened", False)
        while True:
            key = f"{prefix}.{n}" if flat else f"{prefix}.member.{n}"
            item = from_form(shape.member, params, key)
            if item is None:
                break
            items.append(item)
            n += 1
        if not items and f"{prefix}" in params and params[prefix] == "":
            return []  # an empty list, as the query protocol writes one
        return items or None
    if isinstance(shape, MapShape):
        entries, n = {}, 1
        while f"{prefix}.entry.{n}.key" in params:
            value = from_form(shape.value, params, f"{prefix}.entry.{n}.value")
            entries[params[f"{prefix}.entry.{n}.key"]] = value
            n += 1
        return entries or None
    # A structure's member: `Prefix.Name`; the top level's: `Name`.
    if prefix in params:
        return _scalar(shape, params[prefix], prefix)
    return None


def _iso(epoch: float) -> str:
    stamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{stamp.microsecond // 1000:03d}Z" if stamp.microsecond else "Z"
    )


def to_wire(shape: Shape | None, value: Any, protocol: str) -> Any:
    """An answer's members for `protocol`: json, smithy-rpc-v2-cbor or query."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "timestamp":
        if protocol == "query":
            return _iso(float(value))
        if protocol == "smithy-rpc-v2-cbor":
            return cbor2.CBORTag(1, float(value))
        return float(value)
    if kind in ("double", "float") and protocol == "json" and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(shape, StructureShape):
        return {k: to_wire(shape.members[k], v, protocol) for k, v in value.items()
                if k in shape.members and v is not None}  # fmt: skip
    if isinstance(shape, ListShape):
        return [to_wire(shape.member, v, protocol) for v in value]
    if isinstance(shape, MapShape):
        mapped = {k: to_wire(shape.value, v, protocol) for k, v in value.items()}
        if protocol == "query":
            return QueryMap({k: str(v) for k, v in mapped.items()})
        return mapped
    return value

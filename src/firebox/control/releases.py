"""Versions, aliases and tags: how code is released. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import TYPE_CHECKING

from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST, AliasRecord, FunctionRecord
from firebox.domain.types import JSONDict
from firebox.storage.base import StoreConflict

if TYPE_CHECKING:
    from firebox.control.functions import FunctionService

ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")
VERSION_RE = re.compile(r"^(\$LATEST|[0-9]{1,1024})$")
TAG_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+)$"
)
MAX_TAGS = 50


def _invalid(value: object, member: str, constraint: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _description(body: JSONDict, default: str = "") -> str:
    description = body.get("Description", default)
    if not isinstance(description, str) or len(description) > 256:
        raise _invalid(
            description, "description", "Member must have length less than or equal to 256"
        )
    return description


def _decode_marker(marker: str | None) -> str | None:
    if not marker:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from None


def _encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


class Releases:
    """PublishVersion, the alias API and tagging, over the function service's store and cache."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.arns = functions.arns

    # ----- versions --------------------------------------------------------------------------
    async def publish(self, ref: FunctionRef, body: JSONDict) -> FunctionRecord:
        """Snapshots $LATEST as a new version, or returns the last one if nothing changed."""
        description = body.get("Description")
        async with self.functions.lock:
            latest = self.functions.latest(ref)
            expected_sha = body.get("CodeSha256")
            if expected_sha is not None and expected_sha != latest.code_sha256_b64:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code_sha256_b64}). Please try again with the current "
                    "CodeSHA256."
                )
            self.functions.check_revision(latest, body)
            return self.publish_locked(latest, description)

    def publish_locked(self, latest: FunctionRecord, description: object = None) -> FunctionRecord:
        """Publishes with the service's lock held (also used by Publish=true)."""
        last = self.functions.last_version(latest.name)
        if last is not None and last.release_key == latest.release_key:
            return last  # unchanged since the last publication: Lambda returns that version
        snapshot = latest.updated(
            revision_id=str(uuid.uuid4()),
            source_revision=latest.revision_id,
            tags={},
            description=latest.description
            if description is None
            else _description({"Description": description}),
        )
        record = self.functions.store.publish(snapshot)
        self.functions.cache(record)
        return record

    def list_versions(
        self, ref: FunctionRef, marker: str | None, max_items: int
    ) -> tuple[list[FunctionRecord], str | None]:
        """$LATEST, then published versions in order; the marker is opaque to clients."""
        latest = self.functions.latest(FunctionRef(ref.name))
        after = _decode_marker(marker)
        records: list[FunctionRecord] = [] if after else [latest]
        start = int(after) if after and after.isdigit() else 0
        records += self.functions.store.list_versions(ref.name, start, max_items + 1)
        next_marker = None
        if len(records) > max_items:
            records = records[:max_items]
            next_marker = _encode_marker(records[-1].version)
        return records, next_marker

    def check_unreferenced(self, name: str, version: str) -> None:
        """Refuses to delete a version an alias still routes to, as Lambda does."""
        users = [
            alias.name
            for alias in self.functions.aliases(name)
            if alias.function_version == version or version in alias.weights
        ]
        if users:
            raise ResourceConflictException(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(users)}]"
            )

    # ----- aliases ---------------------------------------------------------------------------
    def _alias_not_found(self, function_name: str, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Cannot find alias arn: {self.arns.function(function_name, name)}"
        )

    def _target(self, function_name: str, version: object) -> str:
        if not isinstance(version, str) or not VERSION_RE.match(version):
            pattern = "(\\$LATEST|[0-9]+)"
            raise _invalid(
                version,
                "functionVersion",
                f"Member must satisfy regular expression pattern: {pattern}",
            )
        if version != LATEST and self.functions.version(function_name, version) is None:
            raise ResourceNotFoundException(
                f"Function not found: {self.arns.function(function_name, version)}"
            )
        return version

    def _weights(self, function_name: str, primary: str, body: JSONDict) -> dict[str, float]:
        routing = body.get("RoutingConfig")
        if routing is None:
            return {}
        if not isinstance(routing, dict):
            raise InvalidParameterValueException("RoutingConfig must be an object.")
        weights = routing.get("AdditionalVersionWeights") or {}  # optional, as on AWS
        if not isinstance(weights, dict):
            raise InvalidParameterValueException("AdditionalVersionWeights must be a map.")
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        result: dict[str, float] = {}
        for version, weight in weights.items():
            if (isinstance(weight, bool) or not isinstance(weight, int | float)
                    or not 0.0 <= weight <= 1.0):  # fmt: skip
                raise _invalid(weights, "routingConfig.additionalVersionWeights",
                               "Map value must satisfy constraint: [Member must have value less "
                               "than or equal to 1.0, Member must have value greater than or "
                               "equal to 0.0]")  # fmt: skip
            if not isinstance(version, str) or not version.isdigit():
                raise _invalid(version, "routingConfig.additionalVersionWeights",
                               "Map keys must satisfy constraint: [Member must satisfy regular "
                               "expression pattern: [0-9]+]")  # fmt: skip
            if primary == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
            if version == primary:
                raise InvalidParameterValueException(
                    f"Invalid function version {version}. Function version {version} is already "
                    "included in routing configuration."
                )
            self._target(function_name, version)
            result[version] = float(weight)
        return result

    async def create_alias(self, ref: FunctionRef, body: JSONDict) -> AliasRecord:
        name = body.get("Name")
        if not isinstance(name, str) or not ALIAS_RE.match(name):
            raise _invalid(name, "name", "Member must satisfy regular expression pattern: "
                           "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")  # fmt: skip
        async with self.functions.lock:
            self.functions.latest(FunctionRef(ref.name))
            version = self._target(ref.name, body.get("FunctionVersion"))
            alias = AliasRecord(
                ref.name, name, version, _description(body),
                self._weights(ref.name, version, body), str(uuid.uuid4()),
            )  # fmt: skip
            try:
                self.functions.store.create_alias(alias)
            except StoreConflict:
                raise ResourceConflictException(
                    f"Alias already exists: {self.arns.function(ref.name, name)}"
                ) from None
            self.functions.cache_alias(alias)
            return alias

    def get_alias(self, ref: FunctionRef, name: str) -> AliasRecord:
        self.functions.latest(FunctionRef(ref.name))
        alias = self.functions.alias(ref.name, name)
        if alias is None:
            raise self._alias_not_found(ref.name, name)
        return alias

    async def update_alias(self, ref: FunctionRef, name: str, body: JSONDict) -> AliasRecord:
        async with self.functions.lock:
            return self.update_alias_locked(ref, name, body)

    def update_alias_locked(self, ref: FunctionRef, name: str, body: JSONDict) -> AliasRecord:
        """Changes an alias with the service's lock held (also used by rollouts)."""
        old = self.get_alias(ref, name)
        if body.get("RevisionId") not in (None, old.revision_id):
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        version = old.function_version
        if "FunctionVersion" in body:
            version = self._target(ref.name, body["FunctionVersion"])
        if "RoutingConfig" in body:
            weights = self._weights(ref.name, version, body)
        else:  # the old split stays, unless the primary moved onto its other version
            weights = {v: w for v, w in old.weights.items() if v != version}
            if weights and version == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
        new = old.updated(
            function_version=version,
            description=_description(body, old.description),
            weights=weights,
            revision_id=str(uuid.uuid4()),
        )
        try:
            self.functions.store.replace_alias(new, old.revision_id)
        except StoreConflict:
            raise PreconditionFailedException("The alias was changed by another request") from None
        self.functions.cache_alias(new)
        return new

    async def delete_alias(self, ref: FunctionRef, name: str) -> None:
        async with self.functions.lock:
            self.functions.latest(FunctionRef(ref.name))
            self.functions.store.delete_alias(ref.name, name)  # idempotent, as on Lambda
            self.functions.drop_alias(ref.name, name)
            for listener in self.functions.on_deleted:
                listener(ref.name, name)

    def list_aliases(
        self, ref: FunctionRef, version: str | None, marker: str | None, max_items: int
    ) -> tuple[list[AliasRecord], str | None]:
        self.functions.latest(FunctionRef(ref.name))
        after = _decode_marker(marker) or ""
        aliases = [
            a for a in self.functions.aliases(ref.name)
            if a.name > after and (version is None or a.function_version == version)
        ]  # fmt: skip
        next_marker = None
        if len(aliases) > max_items:
            aliases = aliases[:max_items]
            next_marker = _encode_marker(aliases[-1].name)
        return aliases, next_marker

    # ----- tags ------------------------------------------------------------------------------
    def _tagged(self, arn: str) -> FunctionRecord:
        match = TAG_ARN_RE.match(arn)
        if match is None:
            if re.match(r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[^:]+:", arn):
                raise InvalidParameterValueException(
                    "Tags are not supported on function versions or aliases: use the function ARN."
                )
            pattern = "arn:(aws[a-zA-Z-]*):lambda:[a-z0-9-]+:\\d{12}:function:[a-zA-Z0-9-_]+"
            raise _invalid(
                arn, "resource", f"Member must satisfy regular expression pattern: {pattern}"
            )
        if (match[1], match[2]) != (self.arns.region, self.arns.account_id):
            raise ResourceNotFoundException(f"Function not found: {arn}")  # not this server's
        return self.functions.latest(FunctionRef(match[3]))

    def list_tags(self, arn: str) -> dict[str, str]:
        return dict(self._tagged(arn).tags)

    async def tag(self, arn: str, tags: object) -> None:
        async with self.functions.lock:
            record = self._tagged(arn)
            merged = {**record.tags, **check_tags(tags)}
            if len(merged) > MAX_TAGS:
                raise InvalidParameterValueException(
                    f"Number of tags exceeds resource tag limit ({MAX_TAGS})."
                )
            await self.functions.set_tags(record, merged)

    async def untag(self, arn: str, keys: list[str]) -> None:
        async with self.functions.lock:
            record = self._tagged(arn)
            remaining = {k: v for k, v in record.tags.items() if k not in keys}
            await self.functions.set_tags(record, remaining)


def check_tags(tags: object) -> dict[str, str]:
    """Validates a Tags map as Lambda does (≤ 50, keys 1–128, values ≤ 256, no aws: prefix)."""
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidParameterValueException("Tags must be a map of strings to strings.")
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

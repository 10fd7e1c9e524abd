"""Versions, aliases and tags: how code is released. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import re
import uuid

from firebox.control.catalog import Catalog, check_revision
from firebox.control.events import AliasDeleted
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

ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")
VERSION_RE = re.compile(r"^(\$LATEST|[0-9]{1,1024})$")


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
    """PublishVersion and the alias API, over the catalog and its store."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.arns = catalog.arns

    # ----- versions --------------------------------------------------------------------------
    async def publish(self, ref: FunctionRef, body: JSONDict) -> FunctionRecord:
        """Snapshots $LATEST as a new version, or returns the last one if nothing changed."""
        description = body.get("Description")
        async with self.catalog.lock:
            latest = self.catalog.latest(ref)
            expected_sha = body.get("CodeSha256")
            if expected_sha is not None and expected_sha != latest.code_sha256_b64:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code_sha256_b64}). Please try again with the current "
                    "CodeSHA256."
                )
            check_revision(latest.revision_id, body.get("RevisionId"))
            return self.publish_locked(latest, description)

    def publish_locked(self, latest: FunctionRecord, description: object = None) -> FunctionRecord:
        """Publishes with the service's lock held (also used by Publish=true)."""
        last = self.catalog.last_version(latest.name)
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
        record = self.store.publish(snapshot)
        self.catalog.put(record)
        return record

    def list_versions(
        self, ref: FunctionRef, marker: str | None, max_items: int
    ) -> tuple[list[FunctionRecord], str | None]:
        """$LATEST, then published versions in order; the marker is opaque to clients."""
        latest = self.catalog.latest(FunctionRef(ref.name))
        after = _decode_marker(marker)
        records: list[FunctionRecord] = [] if after else [latest]
        start = int(after) if after and after.isdigit() else 0
        records += self.store.list_versions(ref.name, start, max_items + 1)
        next_marker = None
        if len(records) > max_items:
            records = records[:max_items]
            next_marker = _encode_marker(records[-1].version)
        return records, next_marker

    def check_unreferenced(self, name: str, version: str) -> None:
        """Refuses to delete a version an alias still routes to, as Lambda does."""
        users = [
            alias.name
            for alias in self.catalog.aliases(name)
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
        if version != LATEST and self.catalog.version(function_name, version) is None:
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
        async with self.catalog.lock:
            self.catalog.latest(FunctionRef(ref.name))
            version = self._target(ref.name, body.get("FunctionVersion"))
            alias = AliasRecord(
                ref.name, name, version, _description(body),
                self._weights(ref.name, version, body), str(uuid.uuid4()),
            )  # fmt: skip
            try:
                self.store.create_alias(alias)
            except StoreConflict:
                raise ResourceConflictException(
                    f"Alias already exists: {self.arns.function(ref.name, name)}"
                ) from None
            self.catalog.put_alias(alias)
            return alias

    def get_alias(self, ref: FunctionRef, name: str) -> AliasRecord:
        self.catalog.latest(FunctionRef(ref.name))
        alias = self.catalog.alias(ref.name, name)
        if alias is None:
            raise self._alias_not_found(ref.name, name)
        return alias

    async def update_alias(self, ref: FunctionRef, name: str, body: JSONDict) -> AliasRecord:
        async with self.catalog.lock:
            return self.update_alias_locked(ref, name, body)

    def update_alias_locked(self, ref: FunctionRef, name: str, body: JSONDict) -> AliasRecord:
        """Changes an alias with the service's lock held (also used by rollouts)."""
        old = self.get_alias(ref, name)
        check_revision(old.revision_id, body.get("RevisionId"))
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
            self.store.replace_alias(new, old.revision_id)
        except StoreConflict:
            raise PreconditionFailedException("The alias was changed by another request") from None
        self.catalog.put_alias(new)
        return new

    async def delete_alias(self, ref: FunctionRef, name: str) -> None:
        async with self.catalog.lock:
            self.catalog.latest(FunctionRef(ref.name))
            self.store.delete_alias(ref.name, name)  # idempotent, as on Lambda
            self.catalog.drop_alias(ref.name, name)
            self.catalog.bus.publish(AliasDeleted(ref.name, name))

    def list_aliases(
        self, ref: FunctionRef, version: str | None, marker: str | None, max_items: int
    ) -> tuple[list[AliasRecord], str | None]:
        self.catalog.latest(FunctionRef(ref.name))
        after = _decode_marker(marker) or ""
        aliases = [
            a for a in self.catalog.aliases(ref.name)
            if a.name > after and (version is None or a.function_version == version)
        ]  # fmt: skip
        next_marker = None
        if len(aliases) > max_items:
            aliases = aliases[:max_items]
            next_marker = _encode_marker(aliases[-1].name)
        return aliases, next_marker

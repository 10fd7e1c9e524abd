"""Versions, aliases and tags: how code is released. Knows nothing of HTTP."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from firebox.control.catalog import Catalog, check_revision
from firebox.control.events import AliasDeleted
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    ConstraintError,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST, AliasRecord, FunctionRecord
from firebox.storage.base import StoreConflict

ALIAS_RE = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}$")
VERSION_RE = re.compile(r"^(\$LATEST|[0-9]{1,1024})$")


def _description(description: str) -> str:
    if len(description) > 256:
        raise ConstraintError(
            description, "description", "Member must have length less than or equal to 256"
        )
    return description


@dataclass(frozen=True)
class AliasChange:
    """What an alias update changes; None: left as it is ({} weights: no split any more)."""

    function_version: str | None = None
    description: str | None = None
    weights: Mapping[str, float] | None = None
    revision_id: str | None = None  # the alias's, if the change must apply to that revision


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
    async def publish(
        self,
        ref: FunctionRef,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionRecord:
        """Snapshots $LATEST as a new version, or returns the last one if nothing changed.
        `code_sha256` (base64) and `revision_id` refuse it unless $LATEST still has them."""
        async with self.catalog.lock:
            latest = self.catalog.latest(ref)
            expected_sha = code_sha256
            if expected_sha is not None and expected_sha != latest.code_sha256_b64:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in "
                    f"$LATEST ({latest.code_sha256_b64}). Please try again with the current "
                    "CodeSHA256."
                )
            check_revision(latest.revision_id, revision_id)
            return self.publish_locked(latest, description)

    def publish_locked(
        self, latest: FunctionRecord, description: str | None = None
    ) -> FunctionRecord:
        """Publishes with the service's lock held (also used by Publish=true)."""
        last = self.catalog.last_version(latest.name)
        if last is not None and last.release_key == latest.release_key:
            return last  # unchanged since the last publication: Lambda returns that version
        snapshot = latest.updated(
            revision_id=str(uuid.uuid4()),
            source_revision=latest.revision_id,
            tags={},
            description=latest.description if description is None else _description(description),
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

    def _target(self, function_name: str, version: str) -> str:
        if not VERSION_RE.match(version):
            pattern = "(\\$LATEST|[0-9]+)"
            raise ConstraintError(
                version,
                "functionVersion",
                f"Member must satisfy regular expression pattern: {pattern}",
            )
        if version != LATEST and self.catalog.version(function_name, version) is None:
            raise ResourceNotFoundException(
                f"Function not found: {self.arns.function(function_name, version)}"
            )
        return version

    def _weights(
        self, function_name: str, primary: str, weights: Mapping[str, float]
    ) -> dict[str, float]:
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        result: dict[str, float] = {}
        for version, weight in weights.items():
            if not 0.0 <= weight <= 1.0:
                raise ConstraintError(dict(weights), "routingConfig.additionalVersionWeights",
                                      "Map value must satisfy constraint: [Member must have value "
                                      "less than or equal to 1.0, Member must have value greater "
                                      "than or equal to 0.0]")  # fmt: skip
            if not version.isdigit():
                raise ConstraintError(version, "routingConfig.additionalVersionWeights",
                                      "Map keys must satisfy constraint: [Member must satisfy "
                                      "regular expression pattern: [0-9]+]")  # fmt: skip
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

    async def create_alias(
        self,
        ref: FunctionRef,
        name: str,
        function_version: str,
        description: str = "",
        weights: Mapping[str, float] | None = None,
    ) -> AliasRecord:
        if not ALIAS_RE.match(name):
            raise ConstraintError(name, "name", "Member must satisfy regular expression pattern: "
                                  "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")  # fmt: skip
        async with self.catalog.lock:
            self.catalog.latest(FunctionRef(ref.name))
            version = self._target(ref.name, function_version)
            alias = AliasRecord(
                ref.name, name, version, _description(description),
                self._weights(ref.name, version, weights or {}), str(uuid.uuid4()),
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

    async def update_alias(self, ref: FunctionRef, name: str, change: AliasChange) -> AliasRecord:
        async with self.catalog.lock:
            return self.update_alias_locked(ref, name, change)

    def update_alias_locked(self, ref: FunctionRef, name: str, change: AliasChange) -> AliasRecord:
        """Changes an alias with the catalog's lock held (also used by rollouts)."""
        old = self.get_alias(ref, name)
        check_revision(old.revision_id, change.revision_id)
        version = old.function_version
        if change.function_version is not None:
            version = self._target(ref.name, change.function_version)
        if change.weights is not None:
            weights = self._weights(ref.name, version, change.weights)
        else:  # the old split stays, unless the primary moved onto its other version
            weights = {v: w for v, w in old.weights.items() if v != version}
            if weights and version == LATEST:
                raise InvalidParameterValueException(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
        new = old.updated(
            function_version=version,
            description=_description(
                old.description if change.description is None else change.description
            ),
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

"""Layers: publish, read, list and delete layer versions, their policies, and what functions
that name them hold. Knows nothing of HTTP.

A layer version is immutable and numbered per layer (numbers are never reused). Functions keep
the package of each layer they use (`LayerUse`), so deleting a version stops new functions from
naming it but leaves the ones that do working, as on Lambda; its package is collected once
nothing refers to it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from firebox.control.catalog import Catalog
from firebox.control.policies import (
    MAX_POLICY,
    Permission,
    PolicyLengthExceededException,
    statement,
)
from firebox.domain.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.layers import (
    LAYER_NAME_OR_ARN_RE,
    LAYER_VERSION_ARN_RE,
    LayerUse,
    LayerVersion,
    NewLayerVersion,
    check_layer_arns,
)
from firebox.storage.base import StoreConflict

NOT_FOUND = "The resource you requested does not exist."


class LayerService:
    """Layer versions in the store, their packages in the code store."""

    def __init__(self, catalog: Catalog, collect: Callable[[str], None]) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.code = catalog.code
        self.arns = catalog.arns
        self._collect = collect  # a package that may have lost its last reference

    def name_of(self, name_or_arn: str) -> str:
        """A LayerName member (a name, or the layer's ARN) as a name of this server's."""
        match = LAYER_NAME_OR_ARN_RE.match(name_or_arn)
        if match is None:
            raise ResourceNotFoundException(NOT_FOUND)
        if match["account"] and (match["region"], match["account"]) != (
            self.arns.region, self.arns.account_id,
        ):  # fmt: skip
            raise ResourceNotFoundException(NOT_FOUND)  # another account's: none here
        return match["name"]

    # ----- versions ----------------------------------------------------------------------------
    async def publish(self, new: NewLayerVersion) -> LayerVersion:
        """Stores the zip and numbers a new version of the layer."""
        name = self.name_of(new.name)
        # Under the catalog's lock, as every code write: a package being collected is never
        # the one just stored (see FunctionService._remove).
        async with self.catalog.lock:
            stored = await asyncio.to_thread(self.code.put, new.code)
            layer = LayerVersion(
                name=name, version=0, code_sha256=stored.sha256, code_size=stored.size,
                unzipped=stored.unzipped, created=time.time(), description=new.description,
                license_info=new.license_info, compatible_runtimes=new.compatible_runtimes,
                compatible_architectures=new.compatible_architectures,
            )  # fmt: skip
            try:
                return self.store.publish_layer(layer)
            except BaseException:
                self._collect(stored.sha256)  # stored for nothing: no version holds it
                raise

    def get(self, name_or_arn: str, version: int) -> LayerVersion:
        _check_number(version)
        found = self.store.get_layer_version(self.name_of(name_or_arn), version)
        if found is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return found

    def _for_policy(self, name_or_arn: str, version: int) -> LayerVersion:
        """The version a policy call names; AWS words its absence differently here."""
        try:
            return self.get(name_or_arn, version)
        except ResourceNotFoundException:
            name = self.name_of(name_or_arn)
            raise ResourceNotFoundException(
                f"Layer version {self.arns.layer_version(name, version)} does not exist."
            ) from None

    def get_by_arn(self, arn: str) -> LayerVersion:
        match = LAYER_VERSION_ARN_RE.match(arn)
        if match is None or (match["region"], match["account"]) != (
            self.arns.region, self.arns.account_id,
        ):  # fmt: skip
            raise ResourceNotFoundException(NOT_FOUND)
        return self.get(match["name"], int(match["version"]))

    def versions(
        self, name_or_arn: str, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """A layer's versions, newest first, those compatible with a runtime/architecture."""
        return [
            v for v in self.store.layer_versions(self.name_of(name_or_arn))
            if _matches(v, runtime, architecture)
        ]  # fmt: skip

    def layers(
        self, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """Each layer's newest version that is compatible (layers with none are left out)."""
        latest: dict[str, LayerVersion] = {}
        for version in self.store.layer_versions():
            if version.name not in latest and _matches(version, runtime, architecture):
                latest[version.name] = version
        return [latest[name] for name in sorted(latest)]

    async def delete(self, name_or_arn: str, version: int) -> None:
        """Deletes a version (nothing happens if there is none); functions using it keep it."""
        _check_number(version)
        name = self.name_of(name_or_arn)
        async with self.catalog.lock:
            found = self.store.get_layer_version(name, version)
            if found is None or not self.store.delete_layer_version(name, version):
                return
        self._collect(found.code_sha256)

    # ----- what functions hold -----------------------------------------------------------------
    def resolve(self, arns: Sequence[str]) -> tuple[LayerUse, ...]:
        """A function's Layers member as the packages it will run with (in its order)."""
        uses = []
        for arn in check_layer_arns(arns):
            match = LAYER_VERSION_ARN_RE.match(arn)
            assert match is not None  # check_layer_arns matched it
            if match["region"] != self.arns.region:
                raise InvalidParameterValueException(
                    "Layers are not in the same region as the function. Layers are expected to "
                    f"be in region {self.arns.region}."
                )
            ours = match["account"] == self.arns.account_id
            found = (
                self.store.get_layer_version(match["name"], int(match["version"])) if ours else None
            )
            if found is None:
                raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
            uses.append(LayerUse(arn, found.code_sha256, found.code_size, found.unzipped))
        return tuple(uses)

    # ----- policies ----------------------------------------------------------------------------
    async def add_permission(
        self, name_or_arn: str, version: int, permission: Permission,
        revision_id: str | None = None,
    ) -> tuple[dict[str, Any], str]:  # fmt: skip
        """Adds a statement to the version's policy; returns it and the new revision."""
        async with self.catalog.lock:
            layer = self._for_policy(name_or_arn, version)
            _check_revision(layer, revision_id)
            if permission.statement_id in layer.statements:
                raise ResourceConflictException(
                    f"The statement id ({permission.statement_id}) provided already exists. "
                    "Please provide a new statement id, or remove the existing statement."
                )
            added = statement(permission, self.arns.layer_version(layer.name, layer.version))
            statements = {**layer.statements, permission.statement_id: added}
            size = len(_policy(statements))
            if size > MAX_POLICY:
                raise PolicyLengthExceededException(
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY})."
                )
            revision = self._save(layer, statements)
            return added, revision

    async def remove_permission(
        self, name_or_arn: str, version: int, statement_id: str, revision_id: str | None = None
    ) -> None:
        async with self.catalog.lock:
            layer = self._for_policy(name_or_arn, version)
            _check_revision(layer, revision_id)
            if statement_id not in layer.statements:
                raise ResourceNotFoundException(
                    f"Statement {statement_id} is not found in resource policy."
                )
            remaining = {k: v for k, v in layer.statements.items() if k != statement_id}
            self._save(layer, remaining)

    def policy(self, name_or_arn: str, version: int) -> tuple[str, str]:
        """The version's policy (as JSON text) and its revision id."""
        layer = self._for_policy(name_or_arn, version)
        if not layer.statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        return _policy(layer.statements), layer.policy_revision

    def _save(self, layer: LayerVersion, statements: dict[str, dict[str, Any]]) -> str:
        revision = str(uuid.uuid4()) if statements else ""
        try:
            self.store.replace_layer_version(
                layer.updated(statements=statements, policy_revision=revision),
                layer.policy_revision,
            )
        except StoreConflict:  # deleted meanwhile (by another process)
            raise ResourceNotFoundException(NOT_FOUND) from None
        return revision


def _check_number(version: int) -> None:
    if version < 1:
        raise InvalidParameterValueException("Layer Version Cannot be less than 1")


def _matches(version: LayerVersion, runtime: str | None, architecture: str | None) -> bool:
    return (runtime is None or runtime in version.compatible_runtimes) and (
        architecture is None or architecture in version.compatible_architectures
    )


def _policy(statements: dict[str, dict[str, Any]]) -> str:
    document = {"Version": "2012-10-17", "Id": "default", "Statement": list(statements.values())}
    return json.dumps(document, separators=(",", ":"))


def _check_revision(layer: LayerVersion, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != layer.policy_revision:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetLayerPolicy API to retrieve the latest Revision Id"
        )

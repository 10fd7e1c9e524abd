"""The function metadata store interface every backend implements."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Protocol

from firebox.domain.layers import LayerVersion
from firebox.domain.records import AliasRecord, FunctionRecord


class StoreConflict(Exception):
    """A write lost a race: the name exists already, or the revision moved on."""


@dataclass(frozen=True)
class Change:
    """One write to the store, by any process: what kind of thing changed, of which function."""

    seq: int  # increasing: a reader catches up from the last one it saw
    kind: str  # function | version | alias | event_config | function_url | route | policy | mapping
    name: str  # the function (for a route: the route's id)
    item: str | None  # the version, alias, qualifier or URL id, where the kind has one


class FunctionStore(Protocol):
    """Durable storage of function records; every method is atomic."""

    def create(self, record: FunctionRecord) -> None:
        """Inserts a new function; raises StoreConflict if the name is taken."""

    def get(self, name: str) -> FunctionRecord | None:
        """Returns the function, or None."""

    def list(self, after: str | None, limit: int) -> list[FunctionRecord]:
        """Returns up to limit functions ordered by name, starting after the given name."""

    def replace(self, record: FunctionRecord, expected_revision: str) -> None:
        """Overwrites a function if its stored revision is expected_revision, else StoreConflict."""

    def delete(self, name: str) -> bool:
        """Removes a function and its versions, aliases and rollouts; says if it existed."""

    def publish(self, record: FunctionRecord) -> FunctionRecord:
        """Stores a snapshot as the function's next version number (never reused); returns it."""

    def get_version(self, name: str, version: str) -> FunctionRecord | None:
        """Returns a published version, or None."""

    def list_versions(self, name: str, after: int, limit: int) -> builtins.list[FunctionRecord]:
        """Returns up to limit published versions numbered above after, in order."""

    def delete_version(self, name: str, version: str) -> bool:
        """Removes a published version; returns whether it existed."""

    def create_alias(self, alias: AliasRecord) -> None:
        """Inserts an alias; raises StoreConflict if the function has one of that name."""

    def list_aliases(self, function_name: str) -> builtins.list[AliasRecord]:
        """Returns a function's aliases ordered by name."""

    def replace_alias(self, alias: AliasRecord, expected_revision: str) -> None:
        """Overwrites an alias if its stored revision is expected_revision, else StoreConflict."""

    def delete_alias(self, function_name: str, name: str) -> bool:
        """Removes an alias; returns whether it existed."""

    def put_rollout(self, function_name: str, alias: str, doc: dict[str, object]) -> None:
        """Stores (replaces) the rollout of an alias: a JSON document."""

    def rollouts(self) -> builtins.list[dict[str, object]]:
        """Returns every stored rollout document."""

    def put_event_config(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        """Stores (replaces) the event invoke config of a function's qualifier."""

    def delete_event_config(self, function_name: str, qualifier: str) -> bool:
        """Removes an event invoke config; returns whether it existed."""

    def event_configs(self) -> builtins.list[dict[str, object]]:
        """Returns every stored event invoke config document."""

    def put_provisioned(self, function_name: str, qualifier: str, requested: int) -> None:
        """Stores (replaces) a qualifier's provisioned concurrency."""

    def delete_provisioned(self, function_name: str, qualifier: str) -> bool:
        """Removes a provisioned concurrency config; returns whether it existed."""

    def provisioned(self) -> builtins.list[tuple[str, str, int, float]]:
        """Every provisioned concurrency config: (function, qualifier, requested, modified)."""

    def put_function_url(self, url_id: str, function_name: str, doc: dict[str, object]) -> None:
        """Stores (replaces) a function URL config."""

    def delete_function_url(self, url_id: str) -> bool:
        """Removes a function URL config; returns whether it existed."""

    def function_urls(self) -> builtins.list[dict[str, object]]:
        """Every function URL config document."""

    def put_policy(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        """Stores (replaces) the resource-based policy of a function's qualifier."""

    def delete_policy(self, function_name: str, qualifier: str) -> bool:
        """Removes a qualifier's resource-based policy; returns whether it existed."""

    def policies(self) -> builtins.list[dict[str, object]]:
        """Every resource-based policy document."""

    def put_mapping(self, uuid: str, doc: dict[str, object]) -> None:
        """Stores (replaces) an event source mapping."""

    def delete_mapping(self, uuid: str) -> bool:
        """Removes an event source mapping; returns whether it existed."""

    def mappings(self) -> builtins.list[dict[str, object]]:
        """Every event source mapping document."""

    def put_route(self, route_id: str, doc: dict[str, object]) -> None:
        """Stores (replaces) an HTTP route."""

    def delete_route(self, route_id: str) -> bool:
        """Removes an HTTP route; returns whether it existed."""

    def routes(self) -> builtins.list[dict[str, object]]:
        """Every HTTP route document."""

    def publish_layer(self, layer: LayerVersion) -> LayerVersion:
        """Stores a new version of a layer, numbered after every earlier one (deleted too)."""

    def get_layer_version(self, name: str, version: int) -> LayerVersion | None:
        """One layer version, if it exists (deleted ones do not)."""

    def layer_versions(self, name: str | None = None) -> builtins.list[LayerVersion]:
        """One layer's versions (every layer's, with None), newest first."""

    def replace_layer_version(self, layer: LayerVersion, expected_revision: str) -> None:
        """Stores a layer version's new policy; StoreConflict if it is gone or its policy's
        revision moved on."""

    def delete_layer_version(self, name: str, version: int) -> bool:
        """Removes a layer version; returns whether it existed."""

    def code_in_use(self, sha256: str) -> bool:
        """Tells whether any function, version or layer version (or a function's layers)
        still refers to a code package."""

    def total_code_size(self) -> tuple[int, int]:
        """Returns (function count, total zipped code bytes)."""

    def changes(self, after: int, limit: int) -> builtins.list[Change]:
        """Up to limit changes with a seq above after, in order (the change feed)."""

    def last_change(self) -> int:
        """The seq of the newest change (0 if none): where a new reader starts."""

    def close(self) -> None:
        """Releases the backend's connections."""

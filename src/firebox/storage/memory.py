"""An in-memory function store: the stub backend, for tests and tools that keep nothing.

It keeps the store's contract (tests/unit/test_store_contract.py runs the same tests against
it and SQLite), but nothing survives the process.
"""

from __future__ import annotations

import builtins
import copy
import threading
import time

from firebox.domain.layers import LayerVersion
from firebox.domain.records import AliasRecord, FunctionRecord
from firebox.storage.base import Change, StoreConflict


class MemoryFunctionStore:
    """Every table a dict, guarded by one lock (each method is atomic, as in SQLite's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[str, FunctionRecord] = {}
        self._versions: dict[str, dict[int, FunctionRecord]] = {}
        self._counters: dict[str, int] = {}
        self._aliases: dict[str, dict[str, AliasRecord]] = {}
        self._rollouts: dict[tuple[str, str], dict[str, object]] = {}
        self._event_configs: dict[tuple[str, str], dict[str, object]] = {}
        self._provisioned: dict[tuple[str, str], tuple[int, float]] = {}
        self._urls: dict[str, tuple[str, dict[str, object]]] = {}
        self._routes: dict[str, dict[str, object]] = {}
        self._policies: dict[tuple[str, str], dict[str, object]] = {}
        self._mappings: dict[str, dict[str, object]] = {}
        self._changes: list[Change] = []
        self._layers: dict[tuple[str, int], LayerVersion] = {}
        self._layer_counters: dict[str, int] = {}

    def _changed(self, kind: str, name: str, item: str | None = None) -> None:
        seq = self._changes[-1].seq + 1 if self._changes else 1
        self._changes.append(Change(seq, kind, name, item))

    # ----- functions ---------------------------------------------------------------------------
    def create(self, record: FunctionRecord) -> None:
        with self._lock:
            if record.name in self._functions:
                raise StoreConflict(record.name)
            self._functions[record.name] = record
            self._changed("function", record.name)

    def get(self, name: str) -> FunctionRecord | None:
        return self._functions.get(name)

    def list(self, after: str | None, limit: int) -> builtins.list[FunctionRecord]:
        with self._lock:
            names = sorted(n for n in self._functions if after is None or n > after)
            return [self._functions[n] for n in names[:limit]]

    def replace(self, record: FunctionRecord, expected_revision: str) -> None:
        with self._lock:
            current = self._functions.get(record.name)
            if current is None or current.revision_id != expected_revision:
                raise StoreConflict(record.name)
            self._functions[record.name] = record
            self._changed("function", record.name)

    def delete(self, name: str) -> bool:
        with self._lock:
            for number in self._versions.get(name, {}):
                self._changed("version", name, str(number))
            for alias in self._aliases.get(name, {}):
                self._changed("alias", name, alias)
            if name in self._functions:
                self._changed("function", name)
            self._versions.pop(name, None)
            self._counters.pop(name, None)
            self._aliases.pop(name, None)
            for table in (self._rollouts, self._event_configs, self._provisioned, self._policies):
                for key in [k for k in table if k[0] == name]:
                    del table[key]
                    if table is self._event_configs:
                        self._changed("event_config", name, key[1])
                    elif table is self._policies:
                        self._changed("policy", name, key[1])
            for url_id in [u for u, (fn, _) in self._urls.items() if fn == name]:
                del self._urls[url_id]
                self._changed("function_url", name, url_id)
            return self._functions.pop(name, None) is not None

    # ----- versions ----------------------------------------------------------------------------
    def publish(self, record: FunctionRecord) -> FunctionRecord:
        with self._lock:
            number = self._counters.get(record.name, 0) + 1
            self._counters[record.name] = number
            published = record.updated(version=str(number))
            self._versions.setdefault(record.name, {})[number] = published
            self._changed("version", record.name, str(number))
            return published

    def get_version(self, name: str, version: str) -> FunctionRecord | None:
        if not version.isdigit():
            return None
        return self._versions.get(name, {}).get(int(version))

    def list_versions(self, name: str, after: int, limit: int) -> builtins.list[FunctionRecord]:
        with self._lock:
            versions = self._versions.get(name, {})
            return [versions[n] for n in sorted(versions) if n > after][:limit]

    def delete_version(self, name: str, version: str) -> bool:
        with self._lock:
            if (
                not version.isdigit()
                or self._versions.get(name, {}).pop(int(version), None) is None
            ):
                return False
            self._changed("version", name, version)
            return True

    # ----- aliases -----------------------------------------------------------------------------
    def create_alias(self, alias: AliasRecord) -> None:
        with self._lock:
            aliases = self._aliases.setdefault(alias.function_name, {})
            if alias.name in aliases:
                raise StoreConflict(alias.name)
            aliases[alias.name] = alias
            self._changed("alias", alias.function_name, alias.name)

    def list_aliases(self, function_name: str) -> builtins.list[AliasRecord]:
        aliases = self._aliases.get(function_name, {})
        return [aliases[n] for n in sorted(aliases)]

    def replace_alias(self, alias: AliasRecord, expected_revision: str) -> None:
        with self._lock:
            current = self._aliases.get(alias.function_name, {}).get(alias.name)
            if current is None or current.revision_id != expected_revision:
                raise StoreConflict(alias.name)
            self._aliases[alias.function_name][alias.name] = alias
            self._changed("alias", alias.function_name, alias.name)

    def delete_alias(self, function_name: str, name: str) -> bool:
        with self._lock:
            if self._aliases.get(function_name, {}).pop(name, None) is None:
                return False
            self._changed("alias", function_name, name)
            return True

    # ----- per-function configurations ---------------------------------------------------------
    def put_rollout(self, function_name: str, alias: str, doc: dict[str, object]) -> None:
        self._rollouts[(function_name, alias)] = copy.deepcopy(doc)

    def rollouts(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(d) for d in self._rollouts.values()]

    def put_event_config(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        self._event_configs[(function_name, qualifier)] = copy.deepcopy(doc)
        self._changed("event_config", function_name, qualifier)

    def delete_event_config(self, function_name: str, qualifier: str) -> bool:
        if self._event_configs.pop((function_name, qualifier), None) is None:
            return False
        self._changed("event_config", function_name, qualifier)
        return True

    def event_configs(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(d) for d in self._event_configs.values()]

    def put_provisioned(self, function_name: str, qualifier: str, requested: int) -> None:
        self._provisioned[(function_name, qualifier)] = (requested, time.time())

    def delete_provisioned(self, function_name: str, qualifier: str) -> bool:
        return self._provisioned.pop((function_name, qualifier), None) is not None

    def provisioned(self) -> builtins.list[tuple[str, str, int, float]]:
        return [(n, q, r, m) for (n, q), (r, m) in self._provisioned.items()]

    def put_function_url(self, url_id: str, function_name: str, doc: dict[str, object]) -> None:
        self._urls[url_id] = (function_name, copy.deepcopy(doc))
        self._changed("function_url", function_name, url_id)

    def delete_function_url(self, url_id: str) -> bool:
        gone = self._urls.pop(url_id, None)
        if gone is not None:
            self._changed("function_url", gone[0], url_id)
        return gone is not None

    def function_urls(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(doc) for _, doc in self._urls.values()]

    def put_policy(self, function_name: str, qualifier: str, doc: dict[str, object]) -> None:
        self._policies[function_name, qualifier] = copy.deepcopy(doc)
        self._changed("policy", function_name, qualifier)

    def delete_policy(self, function_name: str, qualifier: str) -> bool:
        gone = self._policies.pop((function_name, qualifier), None)
        if gone is not None:
            self._changed("policy", function_name, qualifier)
        return gone is not None

    def policies(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(doc) for doc in self._policies.values()]

    def put_mapping(self, uuid: str, doc: dict[str, object]) -> None:
        self._mappings[uuid] = copy.deepcopy(doc)
        self._changed("mapping", uuid)

    def delete_mapping(self, uuid: str) -> bool:
        gone = self._mappings.pop(uuid, None)
        if gone is not None:
            self._changed("mapping", uuid)
        return gone is not None

    def mappings(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(doc) for doc in self._mappings.values()]

    def put_route(self, route_id: str, doc: dict[str, object]) -> None:
        self._routes[route_id] = copy.deepcopy(doc)
        self._changed("route", route_id)

    def delete_route(self, route_id: str) -> bool:
        if self._routes.pop(route_id, None) is None:
            return False
        self._changed("route", route_id)
        return True

    def routes(self) -> builtins.list[dict[str, object]]:
        return [copy.deepcopy(d) for d in self._routes.values()]

    # ----- code --------------------------------------------------------------------------------
    # ----- layers ------------------------------------------------------------------------------
    def publish_layer(self, layer: LayerVersion) -> LayerVersion:
        with self._lock:
            number = self._layer_counters.get(layer.name, 0) + 1
            self._layer_counters[layer.name] = number
            published = layer.updated(version=number)
            self._layers[layer.name, number] = published
            return published

    def get_layer_version(self, name: str, version: int) -> LayerVersion | None:
        return copy.deepcopy(self._layers.get((name, version)))

    def layer_versions(self, name: str | None = None) -> builtins.list[LayerVersion]:
        with self._lock:
            found = [v for key, v in self._layers.items() if name is None or key[0] == name]
        return copy.deepcopy(sorted(found, key=lambda v: (v.name, -v.version)))

    def replace_layer_version(self, layer: LayerVersion, expected_revision: str) -> None:
        with self._lock:
            current = self._layers.get((layer.name, layer.version))
            if current is None or current.policy_revision != expected_revision:
                raise StoreConflict(f"{layer.name}:{layer.version}")
            self._layers[layer.name, layer.version] = copy.deepcopy(layer)

    def delete_layer_version(self, name: str, version: int) -> bool:
        with self._lock:
            return self._layers.pop((name, version), None) is not None

    def code_in_use(self, sha256: str) -> bool:
        with self._lock:
            records = [*self._functions.values(),
                       *(r for v in self._versions.values() for r in v.values())]  # fmt: skip
            return (
                any(r.code_sha256 == sha256 for r in records)
                or any(use.code_sha256 == sha256 for r in records for use in r.layers)
                or any(layer.code_sha256 == sha256 for layer in self._layers.values())
            )

    def total_code_size(self) -> tuple[int, int]:
        with self._lock:
            functions = sum(r.code_size for r in self._functions.values())
            versions = sum(r.code_size for v in self._versions.values() for r in v.values())
            return len(self._functions), functions + versions

    def changes(self, after: int, limit: int) -> builtins.list[Change]:
        with self._lock:
            return [c for c in self._changes if c.seq > after][:limit]

    def last_change(self) -> int:
        return self._changes[-1].seq if self._changes else 0

    def close(self) -> None:
        pass

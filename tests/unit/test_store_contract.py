"""The function store's contract, run against every backend: SQLite (a real file) and memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firebox.domain.layers import LayerUse, LayerVersion
from firebox.domain.records import AliasRecord, FunctionRecord
from firebox.storage import SqliteFunctionStore
from firebox.storage.base import FunctionStore, StoreConflict
from firebox.storage.memory import MemoryFunctionStore


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FunctionStore]:
    made: FunctionStore = (
        SqliteFunctionStore(tmp_path / "firebox.sqlite3")
        if request.param == "sqlite"
        else MemoryFunctionStore()
    )
    yield made
    made.close()


def record(name: str, revision: str = "r1", sha: str = "a" * 64, size: int = 10) -> FunctionRecord:
    return FunctionRecord(name=name, runtime="python3.11", role="arn:aws:iam::1:role/x",
                          handler="app.handler", code_sha256=sha, code_size=size,
                          revision_id=revision)  # fmt: skip


def test_create_get_and_a_taken_name(store: FunctionStore) -> None:
    store.create(record("f"))
    assert store.get("f") == record("f")
    assert store.get("missing") is None
    with pytest.raises(StoreConflict):
        store.create(record("f", "r2"))
    assert store.get("f") == record("f")  # the first one kept


def test_list_is_ordered_and_pages_after_a_name(store: FunctionStore) -> None:
    for name in ("c", "a", "b", "d"):
        store.create(record(name))
    assert [r.name for r in store.list(None, 3)] == ["a", "b", "c"]
    assert [r.name for r in store.list("c", 3)] == ["d"]


def test_replace_is_compare_and_swap_on_the_revision(store: FunctionStore) -> None:
    store.create(record("f"))
    store.replace(record("f", "r2"), "r1")
    with pytest.raises(StoreConflict):
        store.replace(record("f", "r3"), "r1")  # someone else moved it on
    with pytest.raises(StoreConflict):
        store.replace(record("nobody", "r2"), "r1")
    got = store.get("f")
    assert got is not None and got.revision_id == "r2"


def test_versions_are_numbered_and_numbers_never_reused(store: FunctionStore) -> None:
    store.create(record("f"))
    one = store.publish(record("f", sha="b" * 64))
    two = store.publish(record("f", sha="c" * 64))
    assert (one.version, two.version) == ("1", "2")
    assert store.get_version("f", "1") == one
    assert store.delete_version("f", "2")
    assert not store.delete_version("f", "2")
    assert store.publish(record("f")).version == "3"  # 2 is not given out again
    assert [v.version for v in store.list_versions("f", 0, 10)] == ["1", "3"]
    assert [v.version for v in store.list_versions("f", 1, 10)] == ["3"]


def test_aliases_conflict_and_compare_and_swap(store: FunctionStore) -> None:
    store.create(record("f"))
    alias = AliasRecord("f", "live", "1", revision_id="a1", weights={"2": 0.5})
    store.create_alias(alias)
    with pytest.raises(StoreConflict):
        store.create_alias(alias)
    moved = alias.updated(function_version="2", weights={}, revision_id="a2")
    store.replace_alias(moved, "a1")
    with pytest.raises(StoreConflict):
        store.replace_alias(alias.updated(revision_id="a3"), "a1")
    assert store.list_aliases("f") == [moved]
    assert store.delete_alias("f", "live") and not store.delete_alias("f", "live")


def test_deleting_a_function_takes_everything_of_it(store: FunctionStore) -> None:
    store.create(record("f"))
    store.create(record("g"))
    store.publish(record("f"))
    store.create_alias(AliasRecord("f", "live", "1", revision_id="a1"))
    store.put_rollout("f", "live", {"state": "InProgress"})
    store.put_event_config("f", "$LATEST", {"retries": 1})
    store.put_provisioned("f", "1", 2)
    store.put_function_url("u1", "f", {"url": 1})
    store.put_policy("f", "$LATEST", {"sid": 1})
    store.put_policy("g", "$LATEST", {"sid": 2})
    store.put_event_config("g", "$LATEST", {"retries": 0})
    assert store.delete("f") and not store.delete("f")
    assert store.get("f") is None and store.list_versions("f", 0, 10) == []
    assert store.list_aliases("f") == [] and store.rollouts() == []
    assert store.event_configs() == [{"retries": 0}]  # the other function's stays
    assert store.provisioned() == [] and store.function_urls() == []
    assert store.policies() == [{"sid": 2}]
    store.create(record("f"))
    assert store.publish(record("f")).version == "1"  # a new function counts afresh


def test_configurations_are_stored_replaced_and_removed(store: FunctionStore) -> None:
    store.create(record("f"))
    store.put_event_config("f", "$LATEST", {"retries": 1})
    store.put_event_config("f", "$LATEST", {"retries": 2})
    assert store.event_configs() == [{"retries": 2}]
    assert store.delete_event_config("f", "$LATEST")
    store.put_provisioned("f", "1", 3)
    ((name, qualifier, requested, _modified),) = store.provisioned()
    assert (name, qualifier, requested) == ("f", "1", 3)
    store.put_mapping("m1", {"BatchSize": 10})
    store.put_mapping("m1", {"BatchSize": 5})
    assert store.mappings() == [{"BatchSize": 5}]
    assert store.delete_mapping("m1") and not store.delete_mapping("m1")
    assert store.mappings() == []
    store.put_policy("f", "1", {"Statement": [1]})
    store.put_policy("f", "1", {"Statement": [1, 2]})
    assert store.policies() == [{"Statement": [1, 2]}]
    assert store.delete_policy("f", "1") and not store.delete_policy("f", "1")
    assert store.policies() == []
    store.put_route("r1", {"key": "GET /"})
    assert store.routes() == [{"key": "GET /"}]
    assert store.delete_route("r1") and store.routes() == []


def test_code_references_and_totals(store: FunctionStore) -> None:
    store.create(record("f", sha="a" * 64, size=10))
    store.publish(record("f", sha="b" * 64, size=5))
    assert store.code_in_use("a" * 64) and store.code_in_use("b" * 64)
    assert not store.code_in_use("c" * 64)
    assert store.total_code_size() == (1, 15)


def test_stored_documents_are_copies(store: FunctionStore) -> None:
    """What a caller changes after storing (or reading) is not what the store holds."""
    store.create(record("f"))
    doc: dict[str, object] = {"history": [1]}
    store.put_rollout("f", "live", doc)
    doc["history"] = [1, 2]
    read = store.rollouts()[0]
    assert read == {"history": [1]}
    read["history"] = []
    assert store.rollouts() == [{"history": [1]}]


def test_every_write_is_in_the_change_feed(store: FunctionStore) -> None:
    """What a second process (or a restarted reader) catches up from: every write, in order."""

    def since(seq: int) -> set[tuple[str, str, str | None]]:
        return {(c.kind, c.name, c.item) for c in store.changes(seq, 1000)}

    start = store.last_change()
    store.create(record("f"))
    store.replace(record("f", "r2"), "r1")
    store.publish(record("f"))
    store.create_alias(AliasRecord("f", "live", "1", revision_id="a1"))
    store.put_event_config("f", "1", {"retries": 1})
    store.put_function_url("u1", "f", {})
    store.put_policy("f", "$LATEST", {})
    store.put_mapping("m1", {})
    store.put_route("r1", {})
    assert since(start) == {("function", "f", None), ("version", "f", "1"),
                            ("alias", "f", "live"), ("event_config", "f", "1"),
                            ("function_url", "f", "u1"), ("policy", "f", "$LATEST"),
                            ("mapping", "m1", None), ("route", "r1", None)}  # fmt: skip
    seqs = [c.seq for c in store.changes(start, 1000)]
    assert seqs == sorted(seqs) and len(seqs) == 9 and seqs[-1] == store.last_change()
    mark = store.last_change()
    store.delete("f")
    assert since(mark) == {("function", "f", None), ("version", "f", "1"),
                           ("alias", "f", "live"), ("event_config", "f", "1"),
                           ("function_url", "f", "u1"), ("policy", "f", "$LATEST")}  # fmt: skip
    assert store.changes(store.last_change(), 10) == []


def layer(name: str, sha: str = "d" * 64) -> LayerVersion:
    return LayerVersion(name=name, version=0, code_sha256=sha, code_size=3, unzipped=9,
                        created=1.0, compatible_runtimes=("python3.11",))  # fmt: skip


def test_layer_versions_are_numbered_listed_and_never_reused(store: FunctionStore) -> None:
    assert store.publish_layer(layer("l")).version == 1
    assert store.publish_layer(layer("l")).version == 2
    store.publish_layer(layer("k"))
    assert [v.version for v in store.layer_versions("l")] == [2, 1]  # newest first
    assert [(v.name, v.version) for v in store.layer_versions()] == [("k", 1), ("l", 2), ("l", 1)]
    got = store.get_layer_version("l", 1)
    assert got is not None and got.compatible_runtimes == ("python3.11",)
    assert store.delete_layer_version("l", 2) and not store.delete_layer_version("l", 2)
    assert store.get_layer_version("l", 2) is None
    assert store.publish_layer(layer("l")).version == 3


def test_layer_policies_compare_and_swap(store: FunctionStore) -> None:
    published = store.publish_layer(layer("l"))
    statement: dict[str, object] = {"Sid": "s", "Effect": "Allow"}
    changed = published.updated(statements={"s": statement}, policy_revision="r1")
    store.replace_layer_version(changed, "")
    with pytest.raises(StoreConflict):
        store.replace_layer_version(changed.updated(policy_revision="r2"), "")
    got = store.get_layer_version("l", 1)
    assert got is not None and got.statements == {"s": statement} and got.policy_revision == "r1"
    store.delete_layer_version("l", 1)
    with pytest.raises(StoreConflict):
        store.replace_layer_version(changed.updated(policy_revision="r3"), "r1")


def test_code_referenced_by_layers_and_functions_layers(store: FunctionStore) -> None:
    store.publish_layer(layer("l", sha="e" * 64))
    assert store.code_in_use("e" * 64)
    store.delete_layer_version("l", 1)
    assert not store.code_in_use("e" * 64)
    use = LayerUse("arn:aws:lambda:us-east-1:1:layer:l:1", "e" * 64, 3, 9)
    store.create(record("f").updated(layers=(use,)))
    assert store.code_in_use("e" * 64)
    store.publish(record("f").updated(layers=(use,)))
    store.replace(record("f", revision="r2"), "r1")  # $LATEST drops it; version 1 keeps it
    assert store.code_in_use("e" * 64)
    got = store.get_version("f", "1")
    assert got is not None and got.layers == (use,)
    store.delete("f")
    assert not store.code_in_use("e" * 64)

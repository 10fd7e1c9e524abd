"""The stack engine against a recording resource type (no platform): plans, dependency order,
updates and replacements, deletions, a failure part-way and the deploy that repairs it,
template errors, skipped types and intrinsic functions. The services are a stand-in: the real
resource types are exercised against a real server in tests/system/test_deploy.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest

from firebox.domain.errors import CodedError, LambdaError
from firebox.stacks.engine import StackEngine, StackEvent
from firebox.stacks.kinds.base import Applied, Context, Made, Props, Services
from firebox.stacks.store import MemoryStackStore


class Crash(BaseException):
    """The process dying mid-operation (as kill -9 would, at that point)."""


class Thing:
    """Records every call; fails when told to; a changed Name or Mode needs a new one; a name
    can exist once."""

    type_name: ClassVar[str] = "Test::Thing"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on: set[str] = set()
        self.crash_on: set[str] = set()  # made, then the process "dies" before it is recorded
        self.live: dict[str, dict[str, Any]] = {}

    location: ClassVar[tuple[str, ...]] = ("Bus",)  # (as a rule's bus)
    cascades: ClassVar[bool] = True  # (as a function's deletion takes its URL with it)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return any(old.get(k) != new.get(k) for k in ("Name", "Mode", "Bus"))

    def name(self, ctx: Context, logical_id: str, props: Props) -> str | None:
        return str(props.get("Name") or ctx.generated_name(logical_id, 64))

    def key(self, values: Mapping[str, Any], name: str) -> str:
        return f"{values.get('Bus', '')}/{name}"

    async def create(self, ctx: Context, logical_id: str, props: Props) -> Made:
        self.calls.append(("create", logical_id))
        if logical_id in self.fail_on:
            raise LambdaError("it broke")
        name = props.get("Name") or ctx.generated_name(logical_id, 64)
        if self.key(props.values, name) in self.live:
            raise CodedError("ResourceConflictException", f"{name} exists", 409)
        self.live[self.key(props.values, name)] = dict(props.values)
        if logical_id in self.crash_on:
            raise Crash
        return Made(name, {"Ref": name, "Arn": f"arn:test:{name}"})

    async def adopt(self, ctx: Context, logical_id: str, props: Props) -> Made | None:
        self.calls.append(("adopt", logical_id))
        name = props.get("Name") or ctx.generated_name(logical_id, 64)
        if self.key(props.values, name) not in self.live:
            return None
        self.live[self.key(props.values, name)] = dict(props.values)
        return Made(name, {"Ref": name, "Arn": f"arn:test:{name}"})

    async def update(self, ctx: Context, props: Props, old: Applied) -> Made:
        self.calls.append(("update", old.logical_id))
        if old.logical_id in self.fail_on:
            raise LambdaError("it broke")
        self.live[self.key(props.values, old.physical_id)] = dict(props.values)
        return Made(old.physical_id, {"Ref": old.physical_id, "Arn": f"arn:test:{old.physical_id}"})

    async def delete(self, ctx: Context, old: Applied) -> None:
        self.calls.append(("delete", old.logical_id))
        self.live.pop(self.key(old.properties, old.physical_id), None)


@pytest.fixture
def thing() -> Thing:
    return Thing()


@pytest.fixture
def engine(thing: Thing) -> StackEngine:
    services = cast(Services, SimpleNamespace(region="us-east-1", account="123456789012"))
    return StackEngine(MemoryStackStore(), services, {Thing.type_name: thing})


def deploy(engine: StackEngine, doc: dict[str, Any]) -> tuple[Any, list[StackEvent]]:
    events: list[StackEvent] = []
    record = asyncio.run(engine.deploy("app", doc, "http://h", events.append))
    return record, events


def template(**resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {lid: {"Type": "Test::Thing", **body} for lid, body in resources.items()}}


BASE = template(
    B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
    A={"Properties": {"Name": "a", "Size": 1}},
    C={"Properties": {"Peer": {"Ref": "B"}}},
)


def test_creates_in_dependency_order_with_references_resolved(engine: StackEngine,
                                                              thing: Thing) -> None:  # fmt: skip
    record, _ = deploy(engine, BASE)
    assert record.status == "CREATE_COMPLETE"
    assert thing.calls == [("create", "A"), ("create", "B"), ("create", "C")]
    assert thing.live["/b"]["Peer"] == "arn:test:a"
    generated = record.resources["C"].physical_id
    assert generated.startswith("app-C-") and thing.live["/" + generated]["Peer"] == "b"


def test_the_same_template_again_changes_nothing(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, BASE)
    thing.calls.clear()
    plan = engine.plan("app", BASE, "http://h")
    assert {c.action for c in plan} == {"unchanged"}
    record, events = deploy(engine, BASE)
    assert thing.calls == [] and record.status == "UPDATE_COMPLETE"
    assert {e.action for e in events} == {"unchanged"}


def test_updates_in_place_and_replaces_on_a_new_name(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, BASE)
    changed = template(
        B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
        A={"Properties": {"Name": "a2", "Size": 1}},
        C={"Properties": {"Peer": {"Ref": "B"}, "Extra": True}},
    )
    plan = {c.logical_id: c for c in engine.plan("app", changed, "http://h")}
    assert plan["A"].action == "replace" and plan["A"].reason == "Name"
    assert plan["B"].action == "update"  # its Peer is A's new ARN, known only once A is made
    assert plan["C"].action == "update" and plan["C"].reason == "Extra"
    thing.calls.clear()
    record, _ = deploy(engine, changed)
    # The new A first, its dependents moved to it, then the old A deleted (the clean-up).
    assert thing.calls == [("create", "A"), ("update", "B"), ("update", "C"), ("delete", "A")]
    assert thing.live["/b"]["Peer"] == "arn:test:a2" and "/a" not in thing.live
    assert record.status == "UPDATE_COMPLETE" and record.orphans == []


def test_a_replacement_that_keeps_its_name_deletes_the_old_one_first(
    engine: StackEngine, thing: Thing
) -> None:
    deploy(engine, BASE)
    thing.calls.clear()
    moved = template(
        B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
        A={"Properties": {"Name": "a", "Size": 1, "Mode": "new"}},
        C={"Properties": {"Peer": {"Ref": "B"}}},
    )
    record, _ = deploy(engine, moved)
    assert thing.calls[:3] == [("create", "A"), ("delete", "A"), ("create", "A")]
    assert thing.live["/a"]["Mode"] == "new" and record.status == "UPDATE_COMPLETE"


def test_a_failed_replacement_keeps_the_old_resource(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, BASE)
    renamed = template(
        B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
        A={"Properties": {"Name": "a2", "Size": 1}},
        C={"Properties": {"Peer": {"Ref": "B"}}},
    )
    thing.fail_on = {"A"}
    record, _ = deploy(engine, renamed)
    assert record.status == "UPDATE_FAILED"
    assert "/a" in thing.live and record.resources["A"].physical_id == "a"
    thing.fail_on = set()
    record, _ = deploy(engine, renamed)
    assert record.status == "UPDATE_COMPLETE" and set(thing.live) >= {"/a2", "/b"}
    assert "/a" not in thing.live


def test_dropped_resources_are_deleted_dependents_first(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, BASE)
    thing.calls.clear()
    only = template(D={"Properties": {"Name": "d"}})
    plan = {c.logical_id: c.action for c in engine.plan("app", only, "http://h")}
    assert plan == {"D": "create", "C": "delete", "B": "delete", "A": "delete"}
    record, _ = deploy(engine, only)
    assert thing.calls == [("create", "D"), ("delete", "C"), ("delete", "B"), ("delete", "A")]
    assert set(record.resources) == {"D"}


def test_a_failure_part_way_is_reported_and_the_next_deploy_repairs_it(
    engine: StackEngine, thing: Thing
) -> None:
    thing.fail_on = {"B"}
    record, events = deploy(engine, BASE)
    assert record.status == "CREATE_FAILED" and record.reason == "B: ServiceException: it broke"
    assert [e.status for e in events if e.logical_id == "B"] == ["started", "failed"]
    assert set(record.resources) == {"A"}  # made and recorded; C never started
    stored = engine.get("app")
    assert stored.status == "CREATE_FAILED" and set(stored.resources) == {"A"}
    thing.fail_on = set()
    thing.calls.clear()
    record, _ = deploy(engine, BASE)
    assert thing.calls == [("create", "B"), ("create", "C")]
    assert record.status == "UPDATE_COMPLETE" and set(record.resources) == {"A", "B", "C"}


def test_template_errors_change_nothing(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, BASE)
    thing.calls.clear()
    bad = [
        template(A={"Properties": {"Peer": {"Ref": "Nowhere"}}}),
        template(A={"Properties": {"P": {"Ref": "B"}}}, B={"Properties": {"P": {"Ref": "A"}}}),
        {"Resources": {"A": {"Properties": {}}}},
        {"Resources": {}},
        {"Resources": {"A-1": {"Type": "Test::Thing"}}},
    ]
    messages = []
    for doc in bad:
        with pytest.raises(LambdaError) as caught:
            deploy(engine, doc)
        assert caught.value.error_type == "ValidationError"
        messages.append(caught.value.message)
    assert "Unresolved resource dependencies [Nowhere]" in messages[0]
    assert messages[1].startswith("Circular dependency between resources: [A, B]")
    assert "Every Resources object must contain a Type member" in messages[2]
    assert "At least one Resources member must be defined" in messages[3]
    assert "non alphanumeric" in messages[4]
    assert thing.calls == [] and engine.get("app").status == "CREATE_COMPLETE"


def test_remove_deletes_dependents_first_and_keeps_what_is_retained(
    engine: StackEngine, thing: Thing
) -> None:
    doc = template(A={"Properties": {"Name": "a"}},
                   B={"Properties": {"Name": "b", "P": {"Ref": "A"}}, "DeletionPolicy": "Retain"},
                   C={"Properties": {"Name": "c", "P": {"Ref": "B"}}})  # fmt: skip
    deploy(engine, doc)
    thing.calls.clear()
    events: list[StackEvent] = []
    record = asyncio.run(engine.remove("app", "http://h", events.append))
    assert record.status == "DELETE_COMPLETE"
    assert thing.calls == [("delete", "C"), ("delete", "A")]
    assert [e.action for e in events if e.status == "done"] == ["delete", "retain", "delete"]
    assert engine.names() == [] and "/b" in thing.live


def test_unknown_types_are_skipped_with_a_warning(engine: StackEngine, thing: Thing) -> None:
    doc = {"Resources": {
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "users"}},
        "A": {"Type": "Test::Thing", "Properties": {"Table": {"Ref": "Table"}}},
    }}  # fmt: skip
    assert {c.logical_id: c.action for c in engine.plan("app", doc, "http://h")}["Table"] == "skip"
    record, _ = deploy(engine, doc)
    assert record.status == "CREATE_COMPLETE"
    assert record.warnings == ["Table: firebox does not make AWS::DynamoDB::Table resources; "
                               "skipped"]  # fmt: skip
    assert thing.live["/" + record.resources["A"].physical_id]["Table"] == "users"
    doc["Resources"]["A"]["Properties"] = {"Table": {"Fn::GetAtt": ["Table", "Arn"]}}
    record, _ = deploy(engine, doc)
    assert record.status == "UPDATE_FAILED"
    assert "is not made by firebox, so it has no attribute Arn" in record.reason


def test_intrinsic_functions(engine: StackEngine, thing: Thing) -> None:
    doc = template(
        A={"Properties": {"Name": "a"}},
        B={"Properties": {
            "Name": "b",
            "Joined": {"Fn::Join": ["-", ["x", {"Ref": "A"}, {"Ref": "AWS::Region"}]]},
            "Sub": {"Fn::Sub": "${A}/${A.Arn}/${AWS::AccountId}/${Extra}/${!Literal}"},
            "SubList": {"Fn::Sub": ["${X}!", {"X": {"Ref": "AWS::StackName"}}]},
            "Picked": {"Fn::Select": [1, {"Fn::Split": [",", "p,q,r"]}]},
            "Gone": {"Ref": "AWS::NoValue"},
            "List": ["k", {"Ref": "AWS::NoValue"}],
        }},
    )  # fmt: skip
    doc["Resources"]["B"]["Properties"]["Sub"] = {
        "Fn::Sub": ["${A}/${A.Arn}/${AWS::AccountId}/${Extra}/${!Literal}", {"Extra": "e"}]
    }
    deploy(engine, doc)
    b = thing.live["/b"]
    assert b["Joined"] == "x-a-us-east-1"
    assert b["Sub"] == "a/arn:test:a/123456789012/e/${Literal}"
    assert b["SubList"] == "app!"
    assert b["Picked"] == "q"
    assert "Gone" not in b and b["List"] == ["k"]


def test_outputs_are_resolved(engine: StackEngine) -> None:
    doc = {**BASE, "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["A", "Arn"]},
                                       "Description": "A's"}}}  # fmt: skip
    record, _ = deploy(engine, doc)
    assert record.outputs == {"Arn": {"Value": "arn:test:a", "Description": "A's"}}


def test_a_crash_after_a_create_is_taken_over_by_the_next_deploy(
    engine: StackEngine, thing: Thing
) -> None:
    thing.crash_on = {"B"}
    with pytest.raises(Crash):
        deploy(engine, BASE)
    stored = engine.get("app")
    assert stored.status == "CREATE_FAILED" and stored.reason.startswith("firebox: ")
    assert "B" not in stored.resources
    assert stored.creating["B"]["type"] == "Test::Thing" and stored.creating["B"]["name"] == "b"
    assert "/b" in thing.live  # made, not recorded
    thing.crash_on = set()
    thing.calls.clear()
    record, _ = deploy(engine, BASE)
    assert thing.calls == [("adopt", "B"), ("create", "C")]
    assert record.status == "UPDATE_COMPLETE" and record.resources["B"].physical_id == "b"
    assert record.creating == {}


def test_a_name_taken_outside_the_stack_is_refused_not_taken_over(
    engine: StackEngine, thing: Thing
) -> None:
    thing.live["/a"] = {"theirs": True}
    record, _ = deploy(engine, BASE)
    assert record.status == "CREATE_FAILED"
    assert record.reason == "A: ResourceConflictException: a exists"
    assert thing.live["/a"] == {"theirs": True} and ("adopt", "A") not in thing.calls
    asyncio.run(engine.remove("app", "http://h"))
    assert thing.live["/a"] == {"theirs": True}  # never the stack's: left alone


def test_malformed_intrinsics_are_template_errors(engine: StackEngine, thing: Thing) -> None:
    for bad in ({"Fn::Sub": ["x"]}, {"Fn::GetAtt": {"a": 1}}, {"Fn::GetAtt": "NoDot"}):
        with pytest.raises(LambdaError) as caught:
            deploy(engine, template(A={"Properties": {"P": bad}}))
        assert caught.value.error_type == "ValidationError"
    record, _ = deploy(engine, template(A={"Properties": {"P": {"Fn::Select": "0"}}}))
    assert record.status == "CREATE_FAILED" and "Fn::Select requires" in record.reason
    record, _ = deploy(engine, template(A={"Properties": {"P": {"Fn::Split": [",", "a,b"]}}}))
    assert record.status == "CREATE_COMPLETE"  # (nothing was made by the failed one)
    assert thing.live["/" + record.resources["A"].physical_id]["P"] == ["a", "b"]
    with pytest.raises(LambdaError, match="DependsOn"):
        deploy(engine, template(A={"Properties": {}, "DependsOn": [{}]}))


def test_a_type_firebox_skipped_can_become_one_it_makes(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, {"Resources": {"A": {"Type": "AWS::DynamoDB::Table", "Properties": {}}}})
    record, _ = deploy(engine, template(A={"Properties": {"Name": "a"}}))
    assert record.status == "UPDATE_COMPLETE" and thing.calls == [("create", "A")]


RENAMED = template(
    B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
    A={"Properties": {"Name": "a2", "Size": 1}},
    C={"Properties": {"Peer": {"Ref": "B"}}},
)


def test_a_rename_to_a_name_taken_outside_keeps_the_resource(
    engine: StackEngine, thing: Thing
) -> None:
    deploy(engine, BASE)
    thing.live["/a2"] = {"theirs": True}
    record, _ = deploy(engine, RENAMED)
    assert record.status == "UPDATE_FAILED" and "a2 exists" in record.reason
    assert record.resources["A"].physical_id == "a" and "/a" in thing.live
    assert thing.live["/a2"] == {"theirs": True} and record.creating == {}


def test_a_rename_reverted_before_its_clean_up_takes_the_old_one_back(
    engine: StackEngine, thing: Thing
) -> None:
    deploy(engine, BASE)
    thing.fail_on = {"C"}  # the rename's deploy fails after A's new one was made
    doc = template(
        B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
        A={"Properties": {"Name": "a2", "Size": 1}},
        C={"Properties": {"Peer": {"Ref": "B"}, "Extra": 1}},
    )
    record, _ = deploy(engine, doc)
    assert record.status == "UPDATE_FAILED" and [o.physical_id for o in record.orphans] == ["a"]
    thing.fail_on = set()
    record, _ = deploy(engine, BASE)  # back to a: the orphan taken back, a2 cleaned up
    assert record.status == "UPDATE_COMPLETE" and record.resources["A"].physical_id == "a"
    assert "/a" in thing.live and "/a2" not in thing.live and record.orphans == []


def test_a_retained_resource_is_kept_when_replaced(engine: StackEngine, thing: Thing) -> None:
    def retained(doc: dict[str, Any]) -> dict[str, Any]:
        resources = dict(doc["Resources"])
        resources["A"] = {**resources["A"], "DeletionPolicy": "Retain"}
        return {"Resources": resources}

    deploy(engine, retained(BASE))
    record, events = deploy(engine, retained(RENAMED))
    assert record.status == "UPDATE_COMPLETE" and "/a" in thing.live and "/a2" in thing.live
    assert any(e.action == "retain" and e.logical_id == "A" for e in events)


def test_a_new_location_replaces_and_deletes_the_old_one(engine: StackEngine, thing: Thing) -> None:
    deploy(engine, template(A={"Properties": {"Name": "a", "Bus": "one"}}))
    record, _ = deploy(engine, template(A={"Properties": {"Name": "a", "Bus": "two"}}))
    assert record.status == "UPDATE_COMPLETE"
    assert "two/a" in thing.live and "one/a" not in thing.live


def test_an_interrupted_create_no_longer_wanted_is_swept(engine: StackEngine, thing: Thing) -> None:
    thing.crash_on = {"B"}
    with pytest.raises(Crash):
        deploy(engine, BASE)
    thing.crash_on = set()
    record, _ = deploy(engine, template(A={"Properties": {"Name": "a", "Size": 1}}))
    assert record.status == "UPDATE_COMPLETE" and record.creating == {}
    assert "/b" not in thing.live  # made by the interrupted create, deleted


def test_what_hangs_on_a_resource_made_again_is_made_again(
    engine: StackEngine, thing: Thing
) -> None:
    deploy(engine, BASE)
    thing.calls.clear()
    moved = template(
        B={"Properties": {"Name": "b", "Peer": {"Fn::GetAtt": ["A", "Arn"]}}},
        A={"Properties": {"Name": "a", "Size": 1, "Mode": "new"}},
        C={"Properties": {"Peer": {"Ref": "B"}}},
    )
    record, _ = deploy(engine, moved)  # A keeps its name: deleted, made again; B and C too
    assert record.status == "UPDATE_COMPLETE"
    assert [c for c in thing.calls if c[1] in ("B", "C")] == [
        ("delete", "B"), ("create", "B"), ("delete", "C"), ("create", "C")]  # fmt: skip

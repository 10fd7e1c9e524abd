"""Request members checked against botocore's service models, in AWS's words."""

from __future__ import annotations

from typing import Any

import pytest

from firebox.api.model import operation_model, service_model
from firebox.api.validation import (
    MAX_QUOTED,
    Compiler,
    TypeMismatch,
    Violation,
    describe,
    java_pattern,
    render,
)


def check(operation: str, params: dict[str, Any], service: str = "lambda") -> list[Violation]:
    shape = operation_model(service, operation).input_shape
    found: list[Violation] = []
    Compiler().checker(shape)(params, "", found)
    return found


def test_a_valid_request_has_no_violations() -> None:
    assert check("Invoke", {"FunctionName": "f", "InvocationType": "Event", "Payload": b"{}"}) == []
    assert check("CreateFunction", {
        "FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r",
        "Code": {"ZipFile": "UEs="},
        "Environment": {"Variables": {"AB": "b"}}, "Tags": {"k": "v"}, "Publish": True,
        "Architectures": ["x86_64"], "Timeout": 3, "Cors": "ignored: not a member",
    }) == []  # fmt: skip


def test_constraints_are_worded_as_aws_words_them() -> None:
    found = check("Invoke", {"FunctionName": "a b", "InvocationType": "Later"})
    assert describe(found) == (
        "2 validation errors detected: "
        "Value 'a b' at 'functionName' failed to satisfy constraint: Member must satisfy "
        "regular expression pattern: "
        + operation_model("lambda", "Invoke").input_shape.members["FunctionName"].metadata[
            "pattern"]
        + "; Value 'Later' at 'invocationType' failed to satisfy constraint: Member must "
        "satisfy enum value set: [Event, RequestResponse, DryRun]"
    )  # fmt: skip
    missing = check("CreateAlias", {"FunctionName": "f"})
    assert "Value null at 'name' failed to satisfy constraint: Member must not be null" in (
        describe(missing))  # fmt: skip


def test_nested_members_lists_and_maps_have_paths() -> None:
    found = check("CreateFunction", {
        "FunctionName": "f", "Role": "arn:aws:iam::000000000000:role/r", "Code": {},
        "Architectures": ["x86_64", "arm64"], "EphemeralStorage": {"Size": 1},
        "Environment": {"Variables": {"1bad": "x"}},
    })  # fmt: skip
    paths = {v.path: v.constraint for v in found}
    assert paths["architectures"] == "Member must have length less than or equal to 1"
    assert paths["ephemeralStorage.size"] == "Member must have value greater than or equal to 512"
    assert paths["environment.variables"].startswith("Map keys must satisfy constraint: [")


@pytest.mark.parametrize(
    ("params", "path", "expected"),
    [
        ({"FunctionName": "f", "Timeout": "3"}, "timeout", "an integer"),
        ({"FunctionName": "f", "SnapStart": {"ApplyOn": 1}}, "snapStart.applyOn", "a string"),
        ({"FunctionName": "f", "Timeout": True}, "timeout", "an integer"),
        ({"FunctionName": "f", "Timeout": 3.0}, "timeout", "an integer"),
        ({"FunctionName": "f", "Environment": {"Variables": 0}}, "environment.variables", "a map"),
        ({"FunctionName": "f", "VpcConfig": 5}, "vpcConfig", "an object"),
        ({"FunctionName": "f", "Layers": [1]}, "layers.1.member", "a string"),
        ({"FunctionName": "f", "Description": "\ud800"}, "description", "valid Unicode text"),
    ],
)
def test_a_member_of_the_wrong_type_is_a_type_mismatch(
    params: dict[str, Any], path: str, expected: str
) -> None:
    with pytest.raises(TypeMismatch) as mismatch:
        check("UpdateFunctionConfiguration", params)
    assert (mismatch.value.path, mismatch.value.expected) == (path, expected)


def test_a_huge_value_is_quoted_as_a_bounded_prefix() -> None:
    found = check("UpdateFunctionConfiguration", {"FunctionName": "f",
                                                  "Description": "d" * 20_000_000})  # fmt: skip
    message = describe(found)
    assert len(message) < MAX_QUOTED + 200
    assert render(list(range(10**6)))[:10] == "[0, 1, 2, "
    assert len(render({"k": ["v" * 10**6]})) < MAX_QUOTED + 20
    assert render([True, None, {"a": 1}]) == "[true, null, {a=1}]"


def test_java_patterns_python_cannot_compile_still_match() -> None:
    unicode_tags = java_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$")
    assert unicode_tags("héllo wörld_1") and not unicode_tags("semi;colon")
    dashes = java_pattern(r"[\w-_]*")
    assert dashes("a-b_c") and not dashes("a b")
    anchored = java_pattern("(?!^[0-9]+$)([a-zA-Z0-9-_]+)")  # whole-string, as Java's matches()
    assert anchored("live") and not anchored("123") and not anchored("a b")


def test_every_pattern_of_the_services_firebox_speaks_compiles() -> None:
    for service in ("lambda", "logs", "firebox"):
        model = service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                java_pattern(pattern)


def test_firebox_operations_are_checked_by_the_same_mechanism() -> None:
    found = check("StartRollout", {"FunctionName": "f", "Alias": "1"}, "firebox")
    assert [v.path for v in found] == ["alias"]
    with pytest.raises(TypeMismatch):
        check("StartRollout", {"FunctionName": "f", "Alias": "live", "Steps": "10,100"},
              "firebox")  # fmt: skip

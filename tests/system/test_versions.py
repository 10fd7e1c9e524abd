"""Versions, aliases, weighted routing and tags, driven by boto3 against a real server."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support import FireboxServer, create_function, invoke_json, make_zip

ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def code(tag: str) -> str:
    return (
        "import os\n"
        "def handler(event, context):\n"
        f"    return {{'tag': {tag!r}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
        "            'arn': context.invoked_function_arn,\n"
        "            'fv': context.function_version}\n"
    )


def update(lam: Any, name: str, tag: str, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = lam.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": code(tag)}), **kwargs
    )
    return result


def error_code(exc_info: pytest.ExceptionInfo[Any]) -> str:
    return str(exc_info.value.response["Error"]["Code"])


def test_publish_list_and_invoke_versions(lam: Any) -> None:
    name = create_function(lam, code("one"), Description="first")
    v1 = lam.publish_version(FunctionName=name, Description="release one")
    assert v1["Version"] == "1" and v1["FunctionArn"] == f"{ACCOUNT_ARN}{name}:1"
    assert v1["Description"] == "release one"
    # Unchanged since: the same version comes back, not a new one.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    update(lam, name, "two")
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["Description"] == "first"
    update(lam, name, "three")  # $LATEST moves on; the versions must not
    body, response = invoke_json(lam, name, Qualifier="1")
    assert body["tag"] == "one" and body["version"] == "1" and body["fv"] == "1"
    assert body["arn"] == f"{ACCOUNT_ARN}{name}:1"
    assert response["ExecutedVersion"] == "1"
    body, response = invoke_json(lam, f"{ACCOUNT_ARN}{name}:2")  # a qualified ARN
    assert body["tag"] == "two" and response["ExecutedVersion"] == "2"
    body, response = invoke_json(lam, name)
    assert body["tag"] == "three" and response["ExecutedVersion"] == "$LATEST"
    assert body["version"] == "$LATEST" and body["arn"] == f"{ACCOUNT_ARN}{name}"
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == f"{ACCOUNT_ARN}{name}:$LATEST"
    config = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert config["Version"] == "1" and config["CodeSha256"] == v1["CodeSha256"]
    got = lam.get_function(FunctionName=name, Qualifier="2")
    assert got["Configuration"]["Version"] == "2"


def test_versions_are_immutable_and_have_their_own_environments(
    lam: Any, server: FireboxServer
) -> None:
    name = create_function(lam, code("one"), Environment={"Variables": {"MODE": "a"}})
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, MemorySize=256, Timeout=9,
                                      Environment={"Variables": {"MODE": "b"}})  # fmt: skip
    config = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert config["MemorySize"] == 128 and config["Timeout"] == 3
    assert config["Environment"]["Variables"] == {"MODE": "a"}
    for qualifier in ("1", "$LATEST"):
        invoke_json(lam, name, Qualifier=qualifier)
    logs = lam.invoke(FunctionName=name, Qualifier="1", LogType="Tail")["LogResult"]
    assert "Version: 1" in base64.b64decode(logs).decode()
    envs = [e for e in server.environments() if e["function_name"] == name]
    assert sorted(e["version"] for e in envs) == ["$LATEST", "1"]  # one each, never shared
    stream = next(e["log_stream"] for e in envs if e["version"] == "1")
    assert "/[1]" in stream
    events = lam_logs(server).get_log_events(logGroupName=f"/aws/lambda/{name}",
                                             logStreamName=stream)["events"]  # fmt: skip
    assert any(e["message"].startswith("START") and "Version: 1" in e["message"] for e in events)
    # A version cannot be changed: updates address $LATEST only.
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_function_configuration(FunctionName=f"{name}:1", MemorySize=512)


def lam_logs(server: FireboxServer) -> Any:
    import boto3

    return boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip


def test_list_versions_paginates(lam: Any) -> None:
    name = create_function(lam, code("0"), Publish=True)
    for tag in ("1", "2", "3"):
        update(lam, name, tag, Publish=True)
    seen: list[str] = []
    kwargs: dict[str, Any] = {"FunctionName": name, "MaxItems": 2}
    while True:
        page = lam.list_versions_by_function(**kwargs)
        assert len(page["Versions"]) <= 2
        seen += [v["Version"] for v in page["Versions"]]
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert seen == ["$LATEST", "1", "2", "3", "4"]
    paginator = lam.get_paginator("list_versions_by_function")
    assert sum(len(p["Versions"]) for p in paginator.paginate(FunctionName=name)) == 5


def test_publish_preconditions_and_publish_flag(lam: Any) -> None:
    name = create_function(lam, code("one"), Publish=True)
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"] == "1"
    latest = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.publish_version(FunctionName=name, CodeSha256="bm90IHRoZSBoYXNo")
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.publish_version(FunctionName=name, RevisionId="not-the-revision")
    update(lam, name, "two")
    published = update(lam, name, "three", Publish=True)
    assert published["Version"] == "2"
    assert published["CodeSha256"] != latest["CodeSha256"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.publish_version(FunctionName="no-such-function")


def test_alias_lifecycle_and_errors(lam: Any) -> None:
    name = create_function(lam, code("one"), Publish=True)
    update(lam, name, "two", Publish=True)
    prod = lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1",
                            Description="live")  # fmt: skip
    assert prod["AliasArn"] == f"{ACCOUNT_ARN}{name}:prod" and prod["FunctionVersion"] == "1"
    body, response = invoke_json(lam, name, Qualifier="prod")
    assert body["tag"] == "one" and response["ExecutedVersion"] == "1"
    assert body["arn"] == f"{ACCOUNT_ARN}{name}:prod"
    assert lam.get_function_configuration(FunctionName=name, Qualifier="prod")["Version"] == "1"
    lam.create_alias(FunctionName=name, Name="test", FunctionVersion="$LATEST")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"Name": "prod", "FunctionVersion": "1"}, "ResourceConflictException"),
        ({"Name": "123", "FunctionVersion": "1"}, "ValidationException"),  # the model's pattern
        ({"Name": "x", "FunctionVersion": "9"}, "ResourceNotFoundException"),
        ({"Name": "x", "FunctionVersion": "$LATEST",
          "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}},
         "InvalidParameterValueException"),
        ({"Name": "x", "FunctionVersion": "1",
          "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}},
         "ValidationException"),
        ({"Name": "x", "FunctionVersion": "1",
          "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}},
         "InvalidParameterValueException"),
        ({"Name": "x", "FunctionVersion": "1",
          "RoutingConfig": {"AdditionalVersionWeights": {"7": 0.5}}},
         "ResourceNotFoundException"),
    ]  # fmt: skip
    for params, expected in bad:
        with pytest.raises(lam.exceptions.ClientError) as exc_info:
            lam.create_alias(FunctionName=name, **params)
        assert error_code(exc_info) == expected, params
    aliases = lam.list_aliases(FunctionName=name)["Aliases"]
    pairs = [(a["Name"], a["FunctionVersion"]) for a in aliases]
    assert pairs == [("prod", "1"), ("test", "$LATEST")]
    assert [
        a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]
    ] == ["prod"]
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="2", RevisionId="stale")
    moved = lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="2",
                             RevisionId=prod["RevisionId"])  # fmt: skip
    assert moved["FunctionVersion"] == "2" and moved["Description"] == "live"
    body, response = invoke_json(lam, name, Qualifier="prod")
    assert body["tag"] == "two" and response["ExecutedVersion"] == "2"
    # A version an alias routes to cannot be deleted; others can, and stay deleted.
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName=name, Qualifier="2")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        invoke_json(lam, name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST", "2"]  # fmt: skip
    assert update(lam, name, "three", Publish=True)["Version"] == "3"  # numbers never reused
    lam.delete_alias(FunctionName=name, Name="prod")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=name, Name="prod")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        invoke_json(lam, name, Qualifier="prod")


def test_weighted_alias_splits_traffic(lam: Any) -> None:
    """5,000 invokes of a 70/30 alias land within ±3 points of the weights."""
    name = create_function(lam, code("one"), Publish=True)
    update(lam, name, "two", Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})  # fmt: skip
    total = 5000

    def one(_: int) -> str:
        response = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
        response["Payload"].read()
        return str(response["ExecutedVersion"])

    with ThreadPoolExecutor(8) as pool:
        counts = Counter(pool.map(one, range(total)))
    assert set(counts) == {"1", "2"}
    assert abs(counts["2"] / total - 0.3) <= 0.03, counts
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}
    # Moving the primary onto the weighted version ends the split.
    alias = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert "RoutingConfig" not in alias or not alias["RoutingConfig"]["AdditionalVersionWeights"]


def test_tags(lam: Any) -> None:
    name = create_function(lam, code("one"), Tags={"team": "a"})
    arn = f"{ACCOUNT_ARN}{name}"
    assert lam.get_function(FunctionName=name)["Tags"] == {"team": "a"}
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    lam.tag_resource(Resource=arn, Tags={"env": "prod", "team": "b"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod", "team": "b"}
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    # Tags are not configuration: the revision stays.
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == revision
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=arn, Tags={"aws:reserved": "x"})
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=arn, Tags={f"k{i}": "v" for i in range(51)})
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=f"{arn}:1", Tags={"a": "b"})
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=f"{ACCOUNT_ARN}no-such-function")
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}  # bad input changed nothing


def test_delete_function_removes_versions_aliases_and_survives_restart(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    lam = server.client()
    name = create_function(lam, code("one"), Publish=True)
    update(lam, name, "two", Publish=True)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})  # fmt: skip
    other = create_function(lam, code("x"), Publish=True)
    server.stop()
    server.start()
    lam = server.client()
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}
    body, _ = invoke_json(lam, name, Qualifier="1")
    assert body["tag"] == "one"
    lam.delete_function(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=name, Name="prod")
    assert not [e for e in server.environments() if e["function_name"] == name]
    # Recreated, it starts again from version 1, with no aliases.
    create_function(lam, code("new"), FunctionName=name, Publish=True)
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST", "1"]  # fmt: skip
    assert invoke_json(lam, other, Qualifier="1")[0]["tag"] == "x"


def test_releasing_guide_with_the_aws_cli(server: FireboxServer, tmp_path: Any) -> None:
    """docs/releasing.md, steps 1–3, with the real AWS CLI (shorthand routing config included)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    aws = str(Path(sys.executable).with_name("aws"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    name = f"shop-{os.urandom(3).hex()}"

    def lam_cli(*args: str) -> Any:
        result = subprocess.run([aws, "--endpoint-url", server.url, "lambda", *args],
                                env=env, capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    for version in ("v1", "v2"):
        (tmp_path / f"{version}.zip").write_bytes(make_zip({"app.py": code(version)}))
    first = lam_cli("create-function", "--function-name", name, "--runtime", "python3.11",
                    "--handler", "app.handler", "--role", "arn:aws:iam::000000000000:role/shop",
                    "--zip-file", f"fileb://{tmp_path}/v1.zip", "--publish")  # fmt: skip
    assert first["Version"] == "1"
    lam_cli("create-alias", "--function-name", name, "--name", "prod", "--function-version", "1")
    second = lam_cli("update-function-code", "--function-name", name,
                     "--zip-file", f"fileb://{tmp_path}/v2.zip", "--publish")  # fmt: skip
    assert second["Version"] == "2"
    lam_cli("create-alias", "--function-name", name, "--name", "test", "--function-version", "2")
    out = tmp_path / "out.json"
    result = lam_cli("invoke", "--function-name", name, "--qualifier", "test", str(out))
    assert result["ExecutedVersion"] == "2" and json.loads(out.read_text())["tag"] == "v2"
    split = lam_cli("update-alias", "--function-name", name, "--name", "prod",
                    "--function-version", "1",
                    "--routing-config", 'AdditionalVersionWeights={2=0.4}')  # fmt: skip
    assert split["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.4}
    whole = lam_cli("update-alias", "--function-name", name, "--name", "prod",
                    "--function-version", "2",
                    "--routing-config", "AdditionalVersionWeights={}")  # fmt: skip
    assert whole["FunctionVersion"] == "2" and "RoutingConfig" not in whole


def test_identical_redeploys_return_the_same_version(lam: Any) -> None:
    name = create_function(lam, code("one"), Publish=True)
    for _ in range(2):  # CI re-deploying the same zip publishes nothing new
        assert update(lam, name, "one", Publish=True)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Timeout=3)  # no actual change
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_configuration(FunctionName=name, Timeout=4)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_empty_routing_config_means_no_split(lam: Any) -> None:
    """Terraform sends RoutingConfig: {} for every alias without weights."""
    name = create_function(lam, code("one"), Publish=True)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={})
    assert "RoutingConfig" not in alias
    alias = lam.update_alias(FunctionName=name, Name="live", RoutingConfig={})
    assert alias["FunctionVersion"] == "1"


def test_code_shared_again_is_never_collected(lam: Any) -> None:
    """Deleting the last user of a package while a write makes it live again keeps it."""
    files: dict[str, str | bytes] = {f"pkg/m{i}.py": "X = 1\n" for i in range(2000)}
    first = make_zip({"app.py": code("a"), **files})
    name = create_function(lam, {"app.py": code("a"), **files}, Publish=True)
    update(lam, name, "b")  # $LATEST leaves package A; version 1 still holds it
    lam.delete_function(FunctionName=name, Qualifier="1")  # A is unreferenced: collected...
    lam.update_function_code(FunctionName=name, ZipFile=first)  # ...unless live again first
    body, response = invoke_json(lam, name)
    assert "FunctionError" not in response and body["tag"] == "a", body

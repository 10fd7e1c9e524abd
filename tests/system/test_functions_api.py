"""Control plane through boto3: CRUD round trips, every error type, stored state left intact."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, function_names, make_zip, unique

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
ROLE = "arn:aws:iam::000000000000:role/test"


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_get_list_update_delete_round_trip(lam: Any, server: FireboxServer) -> None:
    zipped = make_zip({"app.py": HELLO})
    name = unique()
    created = lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": zipped}, Description="greets", Timeout=7, MemorySize=256,
        Environment={"Variables": {"GREETING": "hi"}}, EphemeralStorage={"Size": 1024},
        Architectures=["x86_64"],
    )  # fmt: skip
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(zipped).digest()).decode()
    assert created["CodeSize"] == len(zipped)
    assert (created["Version"], created["State"], created["LastUpdateStatus"]) == (
        "$LATEST", "Active", "Successful",
    )  # fmt: skip
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert created["EphemeralStorage"] == {"Size": 1024}
    assert (created["Timeout"], created["MemorySize"], created["Description"]) == (7, 256, "greets")

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"] == {k: v for k, v in created.items() if k != "ResponseMetadata"}
    # Code.Location really serves the zip that was uploaded.
    assert httpx.get(got["Code"]["Location"]).content == zipped
    assert (
        lam.get_function_configuration(FunctionName=created["FunctionArn"])["RevisionId"]
        == (created["RevisionId"])
    )

    names = function_names(lam)
    assert name in names

    updated = lam.update_function_configuration(FunctionName=name, Timeout=9, MemorySize=512)
    assert (updated["Timeout"], updated["MemorySize"]) == (9, 512)
    assert updated["Environment"] == {"Variables": {"GREETING": "hi"}}  # untouched fields kept
    assert updated["RevisionId"] != created["RevisionId"]

    new_zip = make_zip({"app.py": HELLO.replace("hello", "bye")})
    recoded = lam.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert recoded["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    assert recoded["RevisionId"] not in (created["RevisionId"], updated["RevisionId"])

    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error_code(exc) == "ResourceNotFoundException"


def test_function_addressed_by_name_partial_arn_and_encoded_arn(
    lam: Any, server: FireboxServer
) -> None:
    name = create_function(lam, HELLO)
    for ident in (name, f"000000000000:function:{name}",
                  f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                  f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST"):  # fmt: skip
        assert lam.get_function_configuration(FunctionName=ident)["FunctionName"] == name
    # Raw colons (as chalice sends them) and %3A-encoded (as the AWS CLI does) both work.
    raw = httpx.get(f"{server.url}/2015-03-31/functions/000000000000:function:{name}/configuration")
    encoded = httpx.get(
        f"{server.url}/2015-03-31/functions/000000000000%3Afunction%3A{name}/configuration"
    )
    assert raw.json()["FunctionName"] == encoded.json()["FunctionName"] == name


def test_list_functions_paginates_with_marker(lam: Any) -> None:
    names = {create_function(lam, HELLO, FunctionName=unique("page")) for _ in range(5)}
    seen: list[str] = []
    marker = None
    pages = 0
    assert len(lam.list_functions(MaxItems=1000)["Functions"]) <= 50  # Lambda's page cap
    while True:
        kwargs = {"MaxItems": 2, **({"Marker": marker} if marker else {})}
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))  # no function twice
    assert pages >= 3
    paginated = [
        f["FunctionName"]
        for p in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3})
        for f in p["Functions"]
    ]
    assert paginated == seen


def test_duplicate_name_is_a_conflict_and_keeps_the_original(lam: Any) -> None:
    name = create_function(lam, HELLO, Description="first")
    with pytest.raises(ClientError) as exc:
        create_function(lam, HELLO, FunctionName=name, Description="second")
    assert error_code(exc) == "ResourceConflictException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert f"Function already exist: {name}" in str(exc.value)
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "first"


def test_unknown_function_is_not_found_everywhere(lam: Any) -> None:
    missing = unique("missing")
    calls = [
        lambda: lam.get_function(FunctionName=missing),
        lambda: lam.get_function_configuration(FunctionName=missing),
        lambda: lam.update_function_configuration(FunctionName=missing, Timeout=5),
        lambda: lam.update_function_code(FunctionName=missing, ZipFile=make_zip({"a.py": ""})),
        lambda: lam.delete_function(FunctionName=missing),
        lambda: lam.invoke(FunctionName=missing),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "ResourceNotFoundException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert f"function:{missing}" in str(exc.value)


VALIDATION = "ValidationException"  # outside the model's constraints (AWS's front end)
INVALID = "InvalidParameterValueException"  # within the model, refused by Lambda itself


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"FunctionName": "bad name!"}, VALIDATION, "functionName"),
        ({"FunctionName": "x" * 65}, VALIDATION, "functionName"),
        (
            {"Runtime": "python2.7"}, INVALID,
            "python2.7 is not supported on this firebox host: it is not a "
            "runtime firebox knows. Available runtimes: ",
        ),
        (
            {"Runtime": "java21"}, INVALID,
            "java21 is not supported on this firebox host: firebox has no Java runtime yet",
        ),
        ({"Runtime": "python9.9"}, VALIDATION, "Member must satisfy enum value set"),
        ({"Handler": "has space.handler"}, VALIDATION, "handler"),
        (
            {"MemorySize": 127}, VALIDATION,
            "at 'memorySize' failed to satisfy constraint: Member must have "
            "value greater than or equal to 128",
        ),
        ({"MemorySize": 10241}, VALIDATION, "Member must have value less than or equal to 10240"),
        ({"Timeout": 0}, VALIDATION, "timeout"),
        (
            {"Timeout": 901}, VALIDATION,
            "at 'timeout' failed to satisfy constraint: Member must have value "
            "less than or equal to 900",
        ),
        ({"Environment": {"Variables": {"A": "1"}}}, VALIDATION, "environment.variables"),
        ({"Environment": {"Variables": {"1A": "1"}}}, VALIDATION, "environment.variables"),
        ({"EphemeralStorage": {"Size": 511}}, VALIDATION, "ephemeralStorage"),
        ({"EphemeralStorage": {"Size": 10241}}, VALIDATION, "ephemeralStorage"),
        ({"Environment": {"Variables": {"BIG": "x" * 4100}}}, INVALID, "exceeded the 4KB limit"),
        ({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}, INVALID, "reserved keys"),
        ({"Architectures": ["arm64"]}, INVALID, "arm64"),
        ({"Role": "not-a-role"}, VALIDATION, "role"),
        ({"Code": {"ZipFile": b"this is not a zip"}}, INVALID, "Could not unzip"),
    ],
)  # fmt: skip
def test_invalid_create_parameters(
    server: FireboxServer, overrides: dict[str, Any], code: str, fragment: str
) -> None:
    # Client-side validation off, so the server's own checks are what is tested.
    lam = server.client(parameter_validation=False)
    params: dict[str, Any] = {
        "FunctionName": unique("bad"), "Runtime": "python3.11", "Role": ROLE,
        "Handler": "app.handler", "Code": {"ZipFile": make_zip({"app.py": HELLO})},
        **overrides,
    }  # fmt: skip
    before = function_names(lam)
    with pytest.raises(ClientError) as exc:
        lam.create_function(**params)
    assert error_code(exc) == code
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in exc.value.response["Error"]["Message"]
    after = function_names(lam)
    assert after == before


def test_a_python_runtime_the_host_lacks_says_how_to_add_it(lam: Any) -> None:
    from firebox.runtimes.registry import PYTHON_VERSIONS, RuntimeRegistry

    present = RuntimeRegistry().available()
    missing = [f"python{v}" for v in PYTHON_VERSIONS if f"python{v}" not in present]
    if not missing:
        pytest.skip("this host has an interpreter for every Python runtime")
    with pytest.raises(ClientError) as exc:
        create_function(lam, HELLO, Runtime=missing[0])
    assert error_code(exc) == "InvalidParameterValueException"
    assert (
        f"no {missing[0]} interpreter was found here; install one, or map it with "
        f"`firebox serve --runtime {missing[0]}="
    ) in exc.value.response["Error"]["Message"]


def test_invalid_update_leaves_function_intact(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, HELLO, Timeout=5)
    before = lam.get_function_configuration(FunctionName=name)
    raw = server.client(parameter_validation=False)
    for kwargs in ({"Timeout": 1000}, {"MemorySize": 64}, {"Runtime": "python9.9"}):
        with pytest.raises(ClientError) as exc:
            raw.update_function_configuration(FunctionName=name, **kwargs)
        assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=b"garbage")
    assert error_code(exc) == "InvalidParameterValueException"
    after = lam.get_function_configuration(FunctionName=name)
    drop = ("ResponseMetadata",)
    assert {k: v for k, v in after.items() if k not in drop} == {
        k: v for k, v in before.items() if k not in drop
    }


def test_revision_id_precondition(lam: Any) -> None:
    name = create_function(lam, HELLO)
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    updated = lam.update_function_configuration(FunctionName=name, Timeout=4, RevisionId=revision)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Timeout=6, RevisionId=revision)
    assert error_code(exc) == "PreconditionFailedException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(
            FunctionName=name, ZipFile=make_zip({"app.py": HELLO}), RevisionId=revision
        )
    assert error_code(exc) == "PreconditionFailedException"
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == updated["RevisionId"]
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 4


def test_malformed_json_body_is_invalid_request_content(server: FireboxServer) -> None:
    response = httpx.post(f"{server.url}/2015-03-31/functions", content=b"{not json")
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "Could not parse request body into json" in response.json()["Message"]


def test_unknown_route_is_an_aws_error(server: FireboxServer) -> None:
    response = httpx.get(f"{server.url}/2015-03-31/nothing-here")
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_account_settings(lam: Any) -> None:
    create_function(lam, HELLO)
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 250 * 1024 * 1024
    assert settings["AccountLimit"]["ConcurrentExecutions"] >= 10
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountUsage"]["TotalCodeSize"] > 0


def test_aws_cli_round_trip(server: FireboxServer, tmp_path: Any) -> None:
    """The README's tour with the real AWS CLI."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    aws = str(Path(sys.executable).with_name("aws"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    zip_path = tmp_path / "hello.zip"
    zip_path.write_bytes(make_zip({"app.py": HELLO}))
    name = unique("cli")
    base = [aws, "--endpoint-url", server.url, "lambda"]
    subprocess.run(
        [*base, "create-function", "--function-name", name, "--runtime", "python3.11",
         "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{zip_path}"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    out = tmp_path / "out.json"
    result = subprocess.run(
        [*base, "invoke", "--function-name", name, "--payload", '{"name": "cli"}', str(out)],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(result.stdout)["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"hello": "cli"}
    missing = subprocess.run(
        [*base, "get-function", "--function-name", unique("nope")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


def test_update_code_dry_run_changes_nothing(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, HELLO)
    before = lam.get_function_configuration(FunctionName=name)
    packages = set((server.data_dir / "code").iterdir())
    new_zip = make_zip({"app.py": HELLO + "# dry\n"})
    dry = lam.update_function_code(FunctionName=name, ZipFile=new_zip, DryRun=True)
    assert dry["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    after = lam.get_function_configuration(FunctionName=name)
    assert after["CodeSha256"] == before["CodeSha256"]
    assert after["RevisionId"] == before["RevisionId"]
    assert set((server.data_dir / "code").iterdir()) == packages

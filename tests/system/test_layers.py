"""Layers on a real server with boto3: the whole layer API with AWS's errors, and layers in
real sandboxes merged read-only into /opt in their order, on the paths each runtime searches
(Python's sys.path, Node's NODE_PATH, PATH, LD_LIBRARY_PATH), for Python, Node.js and custom
runtimes; the limits; a deleted layer version still running; all of it across a kill -9."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, make_zip, unique, vendored, wait_for

ROLE = "arn:aws:iam::000000000000:role/test"


def publish(lam: Any, files: dict[str, str | bytes], name: str | None = None,
            modes: dict[str, int] | None = None, **kw: Any) -> dict[str, Any]:  # fmt: skip
    answer: dict[str, Any] = lam.publish_layer_version(
        LayerName=name or unique("layer"), Content={"ZipFile": make_zip(files, modes)}, **kw
    )
    return answer


def invoke(lam: Any, name: str, event: Any = None) -> Any:
    answer = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return payload


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    status = caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], error["Message"], status


# ----- the API ------------------------------------------------------------------------------
def test_publish_get_list_and_delete_versions(lam: Any) -> None:
    name = unique("layer")
    first = publish(lam, {"python/one.py": "X = 1"}, name, Description="first",
                    CompatibleRuntimes=["python3.11", "python3.12"],
                    CompatibleArchitectures=["x86_64"], LicenseInfo="MIT")  # fmt: skip
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == 1 and first["LayerArn"].endswith(f":layer:{name}")
    assert first["LayerVersionArn"] == first["LayerArn"] + ":1"
    assert first["Description"] == "first" and first["LicenseInfo"] == "MIT"
    assert first["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert first["Content"]["CodeSize"] > 0 and first["Content"]["CodeSha256"]
    assert first["CreatedDate"].endswith("+0000")
    second = publish(lam, {"nodejs/node_modules/two/index.js": ""}, name,
                     CompatibleRuntimes=["nodejs22.x"])  # fmt: skip
    assert second["Version"] == 2 and "LicenseInfo" not in second

    got = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert got["Content"]["CodeSha256"] == first["Content"]["CodeSha256"]
    by_arn = lam.get_layer_version_by_arn(Arn=second["LayerVersionArn"])
    assert by_arn["Version"] == 2 and by_arn["CompatibleRuntimes"] == ["nodejs22.x"]
    # the layer's ARN names it as well as its name does
    assert lam.get_layer_version(LayerName=first["LayerArn"], VersionNumber=2)["Version"] == 2

    versions = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]  # newest first
    python = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")
    assert [v["Version"] for v in python["LayerVersions"]] == [1]
    listed = {item["LayerName"]: item for item in lam.list_layers()["Layers"]}
    assert listed[name]["LatestMatchingVersion"]["Version"] == 2
    assert listed[name]["LayerArn"] == first["LayerArn"]
    filtered = {
        i["LayerName"]: i for i in lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
    }
    assert filtered[name]["LatestMatchingVersion"]["Version"] == 1
    assert name not in {
        i["LayerName"] for i in lam.list_layers(CompatibleRuntime="java21")["Layers"]
    }

    lam.delete_layer_version(LayerName=name, VersionNumber=2)
    lam.delete_layer_version(LayerName=name, VersionNumber=2)  # idempotent, as on AWS
    assert error_of(lambda: lam.get_layer_version(LayerName=name, VersionNumber=2)) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    # numbers are never reused
    assert publish(lam, {"python/x.py": ""}, name)["Version"] == 3


def test_listing_pages_with_markers(lam: Any) -> None:
    name = unique("layer")
    for _ in range(5):
        publish(lam, {"python/x.py": ""}, name)
    seen, marker = [], None
    while True:
        page = lam.list_layer_versions(LayerName=name, MaxItems=2,
                                       **({"Marker": marker} if marker else {}))  # fmt: skip
        seen += [v["Version"] for v in page["LayerVersions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == [5, 4, 3, 2, 1]
    paginator = lam.get_paginator("list_layers")
    names = [i["LayerName"] for p in paginator.paginate(PaginationConfig={"PageSize": 1})
             for i in p["Layers"]]  # fmt: skip
    assert name in names and len(names) == len(set(names))


def test_layer_errors_are_aws_s(lam: Any) -> None:
    name = unique("layer")
    assert error_of(lambda: lam.get_layer_version(LayerName=name, VersionNumber=1))[0] == (
        "ResourceNotFoundException"
    )
    code, message, status = error_of(lambda: lam.get_layer_version(LayerName=name, VersionNumber=0))
    assert (code, message, status) == (
        "InvalidParameterValueException",
        "Layer Version Cannot be less than 1",
        400,
    )
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    code, _, _ = error_of(
        lambda: lam.publish_layer_version(
            LayerName="bad name!", Content={"ZipFile": make_zip({"a": "b"})}
        )
    )
    assert code == "ValidationException"
    code, _, _ = error_of(
        lambda: lam.publish_layer_version(
            LayerName=name, Content={"ZipFile": make_zip({"a": "b"})}, CompatibleRuntimes=["cobol"]
        )
    )
    assert code == "ValidationException"
    code, message, _ = error_of(
        lambda: lam.publish_layer_version(LayerName=name, Content={"ZipFile": b"not a zip"})
    )
    assert code == "InvalidParameterValueException" and "unzip" in message
    code, _, _ = error_of(
        lambda: lam.get_layer_version_by_arn(
            Arn="arn:aws:lambda:us-east-1:000000000000:layer:nover"
        )
    )
    assert code == "ValidationException"
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []  # nothing stored


def test_layer_version_permissions(lam: Any) -> None:
    layer = publish(lam, {"python/x.py": ""})
    name, arn = layer["LayerArn"].rsplit(":", 1)[1], layer["LayerVersionArn"]
    assert error_of(lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=1)) == (
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
        404,
    )
    added = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="everyone",
        Action="lambda:GetLayerVersion", Principal="*")  # fmt: skip
    assert json.loads(added["Statement"]) == {
        "Sid": "everyone", "Effect": "Allow", "Principal": "*",
        "Action": "lambda:GetLayerVersion", "Resource": arn}  # fmt: skip
    org = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*", OrganizationId="o-abcdefghij", RevisionId=added["RevisionId"])  # fmt: skip
    assert json.loads(org["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }
    account = lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="acct", Action="lambda:GetLayerVersion",
        Principal="111122223333")  # fmt: skip
    assert json.loads(account["Statement"])["Principal"] == {
        "AWS": "arn:aws:iam::111122223333:root"
    }
    policy = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Id"] == "default"
    assert [s["Sid"] for s in document["Statement"]] == ["everyone", "org", "acct"]
    assert policy["RevisionId"] == account["RevisionId"]

    code, message, status = error_of(lambda: lam.add_layer_version_permission(
        LayerName=name, VersionNumber=1, StatementId="org", Action="lambda:GetLayerVersion",
        Principal="*"))  # fmt: skip
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.startswith("The statement id (org) provided already exists.")

    def refused(**changes: Any) -> str:
        request = {"LayerName": name, "VersionNumber": 1, "StatementId": "x",
                   "Action": "lambda:GetLayerVersion", "Principal": "*", **changes}  # fmt: skip
        return error_of(lambda: lam.add_layer_version_permission(**request))[0]

    assert refused(RevisionId=added["RevisionId"]) == "PreconditionFailedException"
    assert refused(Action="lambda:InvokeFunction") == "ValidationException"
    assert error_of(lambda: lam.add_layer_version_permission(
        LayerName=name, VersionNumber=9, StatementId="x", Action="lambda:GetLayerVersion",
        Principal="*")) == ("ResourceNotFoundException",
                            f"Layer version {arn[:-2]}:9 does not exist.", 404)  # fmt: skip

    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="org")
    code, message, _ = error_of(
        lambda: lam.remove_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="org"
        )
    )
    assert (code, message) == ("ResourceNotFoundException",
                               "Statement org is not found in resource policy.")  # fmt: skip
    remaining = json.loads(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in remaining["Statement"]] == ["everyone", "acct"]


# ----- layers in environments --------------------------------------------------------------
def python_layer(lam: Any) -> dict[str, Any]:
    """`requests` (with urllib3, idna, certifi, charset_normalizer) as a layer ships it."""
    files: dict[str, str | bytes] = {f"python/{path}": data
                                     for path, data in vendored("requests").items()}  # fmt: skip
    return publish(lam, files, CompatibleRuntimes=["python3.11"])


def test_a_python_dependency_in_a_layer(lam: Any) -> None:
    layer = python_layer(lam)
    name = create_function(lam, """
import os, sys
import requests

def handler(event, context):
    return {"version": requests.__version__, "file": requests.__file__,
            "path": sys.path[:4], "ld": os.environ["LD_LIBRARY_PATH"],
            "PATH": os.environ["PATH"]}
""", Layers=[layer["LayerVersionArn"]])  # fmt: skip
    result = invoke(lam, name)
    assert result["version"] and result["file"] == "/opt/python/requests/__init__.py"
    # the function's own code first, then the layers' paths, as on Lambda
    assert result["path"][:3] == [
        "/var/task",
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
    ]
    assert result["ld"].endswith(":/opt/lib") and result["PATH"].endswith(":/opt/bin")
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Layers"] == [{"Arn": layer["LayerVersionArn"],
                                 "CodeSize": layer["Content"]["CodeSize"]}]  # fmt: skip


def test_layers_merge_in_order_read_only_with_bin_on_path(lam: Any) -> None:
    tool = "#!/bin/sh\necho tool from $1\n"
    first = publish(lam, {"python/shared.py": "WHO = 'first'", "python/only_first.py": "X = 1",
                          "bin/tool": tool.replace("$1", "first"),
                          "data/conflict/inner.txt": "a directory"},
                    modes={"bin/tool": 0o755})  # fmt: skip
    second = publish(lam, {"python/shared.py": "WHO = 'second'", "data/conflict": "a file"})
    code = """
import os, subprocess
import shared, only_first

def handler(event, context):
    try:
        open("/opt/new.txt", "w")
        writable = True
    except OSError:
        writable = False
    return {"who": shared.WHO, "tool": subprocess.run(["tool"], capture_output=True,
            text=True).stdout.strip(), "writable": writable,
            "conflict": os.path.isfile("/opt/data/conflict")}
"""
    ordered = create_function(lam, code, Layers=[first["LayerVersionArn"],
                                                 second["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, ordered) == {"who": "second", "tool": "tool from first",
                                    "writable": False, "conflict": True}  # fmt: skip
    reversed_ = create_function(lam, code, Layers=[second["LayerVersionArn"],
                                                   first["LayerVersionArn"]])  # fmt: skip
    result = invoke(lam, reversed_)
    assert result["who"] == "first" and result["conflict"] is False

    # The function's own code wins over any layer's module of the same name.
    own = create_function(lam, {"app.py": "import shared\n"
                                "def handler(e, c):\n    return shared.WHO\n",
                                "shared.py": "WHO = 'own'"},
                          Layers=[second["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, own) == "own"

    # Layers can be changed, and removed with an empty list.
    lam.update_function_configuration(FunctionName=ordered, Layers=[first["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName=ordered)
    assert invoke(lam, ordered)["who"] == "first"
    lam.update_function_configuration(FunctionName=ordered, Layers=[])
    assert "Layers" not in lam.get_function_configuration(FunctionName=ordered)
    answer = lam.invoke(FunctionName=ordered)
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "Runtime.ImportModuleError"


def test_a_node_module_and_an_sdk_in_layers(lam: Any) -> None:
    greeter = publish(lam, {
        "nodejs/node_modules/greeter/index.js": "exports.greet = (n) => `hello ${n}`;",
        "nodejs/node22/node_modules/versioned/index.js": "module.exports = 'node22 only';",
    })  # fmt: skip
    # A layer's own @aws-sdk wins over the bundled one, as on Lambda.
    sdk = publish(lam, {"nodejs/node_modules/@aws-sdk/client-lambda/package.json":
                        '{"name": "@aws-sdk/client-lambda", "main": "index.js"}',
                        "nodejs/node_modules/@aws-sdk/client-lambda/index.js":
                        "exports.fromLayer = true;"})  # fmt: skip
    name = create_function(lam, {"index.js": """
exports.handler = async () => ({
  greeting: require("greeter").greet("layers"), versioned: require("versioned"),
  sdk: require("@aws-sdk/client-lambda").fromLayer === true,
  s3: typeof require("@aws-sdk/client-s3").S3Client,
  path: process.env.NODE_PATH.split(":").slice(0, 2),
});
"""}, Runtime="nodejs22.x", Handler="index.handler",
        Layers=[greeter["LayerVersionArn"], sdk["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, name) == {
        "greeting": "hello layers", "versioned": "node22 only", "sdk": True,
        "s3": "function",  # what the layer lacks still comes from the bundled SDK
        "path": ["/opt/nodejs/node22/node_modules", "/opt/nodejs/node_modules"],
    }  # fmt: skip


def test_a_custom_runtime_bootstrap_in_a_layer(lam: Any) -> None:
    runtime = """
import os, urllib.request
api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
while True:
    event = urllib.request.urlopen(f"{api}/next")
    request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
    answer = f'"from {os.path.realpath(__file__)}"'.encode()
    urllib.request.urlopen(urllib.request.Request(f"{api}/{request_id}/response", answer))
"""
    layer = publish(lam, {"bootstrap": "#!/bin/sh\nexec python3 /opt/runtime.py\n",
                          "runtime.py": runtime}, modes={"bootstrap": 0o755})  # fmt: skip
    name = create_function(lam, {"README": "no bootstrap here"}, Runtime="provided.al2023",
                           Handler="none", Layers=[layer["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, name) == "from /opt/runtime.py"


def test_a_deleted_layer_version_keeps_working(lam: Any) -> None:
    layer = publish(lam, {"python/kept.py": "VALUE = 'still here'"})
    name = create_function(lam, "import kept\ndef handler(e, c):\n    return kept.VALUE\n",
                           Layers=[layer["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, name) == "still here"
    layer_name = layer["LayerArn"].rsplit(":", 1)[1]
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=1)
    # a new environment (a configuration change retires the old one) still has it
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"AGAIN": "1"}})
    assert invoke(lam, name) == "still here"
    assert (
        lam.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"]
        == (layer["LayerVersionArn"])
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    assert invoke(lam, f"{name}:{version}") == "still here"
    # ... but no function can start using it
    code, message, _ = error_of(
        lambda: create_function(lam, "def handler(e, c): pass", Layers=[layer["LayerVersionArn"]])
    )
    assert (code, message) == (
        "InvalidParameterValueException",
        f"Layer version {layer['LayerVersionArn']} does not exist.",
    )


def test_layer_limits_and_their_errors(lam: Any) -> None:
    layers = [publish(lam, {f"python/m{i}.py": ""})["LayerVersionArn"] for i in range(6)]
    name = create_function(lam, "def handler(e, c):\n    return 'ok'\n", Layers=layers[:5])
    before = lam.get_function_configuration(FunctionName=name)
    assert len(before["Layers"]) == 5

    def update(arns: list[str]) -> tuple[str, str, int]:
        return error_of(lambda: lam.update_function_configuration(FunctionName=name, Layers=arns))

    assert update(layers) == (
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
        400,
    )
    missing = layers[0].rsplit(":", 1)[0] + ":99"
    assert update([missing]) == (
        "InvalidParameterValueException",
        f"Layer version {missing} does not exist.",
        400,
    )
    code, message, _ = update([layers[0], missing])
    assert code == "InvalidParameterValueException"
    assert message.startswith("Two different versions of the same layer are not allowed")
    assert update(["arn:aws:lambda:us-east-1:000000000000:layer:noversion"])[0] == (
        "ValidationException"
    )
    code, message, _ = update([layers[0].replace("us-east-1", "eu-west-1")])
    assert message == ("Layers are not in the same region as the function. Layers are expected "
                       "to be in region us-east-1.")  # fmt: skip
    # nothing of it changed the function
    after = lam.get_function_configuration(FunctionName=name)
    assert after["Layers"] == before["Layers"] and after["RevisionId"] == before["RevisionId"]
    assert invoke(lam, name) == "ok"


def zeros_zip(path: str, size: int) -> bytes:
    """A small zip that unzips to `size` bytes (zeros compress ~1000:1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(path, "w") as out:
        chunk = bytes(1 << 20)
        for _ in range(size // len(chunk)):
            out.write(chunk)
        out.write(bytes(size % len(chunk)))
    return buf.getvalue()


def test_code_and_layers_together_within_250_mb(lam: Any) -> None:
    big = lam.publish_layer_version(
        LayerName=unique("big"), Content={"ZipFile": zeros_zip("python/blob", 200 << 20)}
    )
    source = "def handler(e, c):\n    return 'ok'\n"
    code: dict[str, str | bytes] = {"app.py": source, "data": bytes(60 << 20)}
    name = create_function(lam, code)  # 60 MB: fine alone, and the layer is fine alone
    try:
        expected = (
            "Function code combined with layers exceeds the maximum allowed size of "
            f"262144000 bytes. The actual size is {len(source) + (260 << 20)} bytes."
        )
        assert error_of(lambda: lam.update_function_configuration(
            FunctionName=name, Layers=[big["LayerVersionArn"]])) == (
            "InvalidParameterValueException", expected, 400)  # fmt: skip
        assert "Layers" not in lam.get_function_configuration(FunctionName=name)
        assert error_of(lambda: create_function(lam, code, Layers=[big["LayerVersionArn"]])) == (
            "InvalidParameterValueException",
            expected,
            400,
        )
        assert invoke(lam, name) == "ok"
        small = create_function(lam, source, Layers=[big["LayerVersionArn"]])
        assert error_of(lambda: lam.update_function_code(
            FunctionName=small, ZipFile=make_zip(code))) == (
            "InvalidParameterValueException", expected, 400)  # fmt: skip
        assert invoke(lam, small) == "ok"
        # the layers alone too much: AWS's other message
        more = lam.publish_layer_version(
            LayerName=unique("more"), Content={"ZipFile": zeros_zip("bin/blob", 60 << 20)}
        )
        assert error_of(lambda: lam.update_function_configuration(
            FunctionName=small, Layers=[big["LayerVersionArn"], more["LayerVersionArn"]])) == (
            "InvalidParameterValueException",
            "Layers consume more than the available size of 262144000 bytes", 400)  # fmt: skip
        lam.delete_layer_version(LayerName=more["LayerArn"], VersionNumber=more["Version"])
    finally:
        lam.delete_layer_version(LayerName=big["LayerArn"], VersionNumber=big["Version"])


def test_layers_survive_kill_9(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    lam = server.client()
    first = publish(lam, {"python/a.py": "A = 'a'"})
    second = publish(lam, {"python/b.py": "B = 'b'"})
    arns = [first["LayerVersionArn"], second["LayerVersionArn"]]
    name = create_function(lam, "import a, b\ndef handler(e, c):\n    return a.A + b.B\n",
                           Layers=arns)  # fmt: skip
    assert invoke(lam, name) == "ab"
    server.kill()
    restarted = start_server(data_dir=server.data_dir)
    lam = restarted.client()
    assert invoke(lam, name) == "ab"
    assert lam.get_layer_version_by_arn(Arn=second["LayerVersionArn"])["Version"] == 1
    assert len(lam.get_function_configuration(FunctionName=name)["Layers"]) == 2


def test_a_shared_library_in_a_layers_lib(lam: Any) -> None:
    """/opt/lib is on the loader's path: a Python function loads a library from it by name
    (the interpreter is exec'd for such layers: the loader reads the path only at start)."""
    import ctypes.util
    import os

    found = ctypes.util.find_library("z")
    assert found is not None
    real = next(os.path.realpath(os.path.join(d, found)) for d in
                ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64")
                if os.path.exists(os.path.join(d, found)))  # fmt: skip
    with open(real, "rb") as f:
        library = f.read()
    layer = publish(lam, {"lib/libfireboxz.so": library})
    name = create_function(lam, """
import ctypes
def handler(event, context):
    lib = ctypes.CDLL("libfireboxz.so")  # found through LD_LIBRARY_PATH only
    lib.zlibVersion.restype = ctypes.c_char_p
    return lib.zlibVersion().decode()
""", Layers=[layer["LayerVersionArn"]])  # fmt: skip
    assert invoke(lam, name).count(".") >= 2  # zlib's version, e.g. 1.2.13


def test_packages_and_trees_go_when_nothing_uses_them(lam: Any, server: FireboxServer) -> None:
    code = server.data_dir / "code"
    first = publish(lam, {"python/gone_a.py": ""})
    second = publish(lam, {"python/gone_b.py": ""})
    shas = [base64_hex(layer["Content"]["CodeSha256"]) for layer in (first, second)]
    arns = [first["LayerVersionArn"], second["LayerVersionArn"]]
    name = create_function(lam, "import gone_a, gone_b\ndef handler(e, c):\n    return 1\n",
                           Layers=arns)  # fmt: skip
    assert invoke(lam, name) == 1
    trees = [p for p in code.glob("*.merged") if shas[0] in p.read_text()]
    assert len(trees) == 1
    tree = code / trees[0].name.removesuffix(".merged")
    assert tree.is_dir() and all((code / sha).is_dir() for sha in shas)
    for layer in (first, second):
        lam.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])
    assert all((code / sha).is_dir() for sha in shas)  # the function still holds them
    lam.delete_function(FunctionName=name)
    # (collected in the background: trees first, then the zips)
    wait_for(lambda: not tree.exists() and not any(
        (code / sha).exists() or (code / f"{sha}.zip").exists() for sha in shas))  # fmt: skip


def base64_hex(b64: str) -> str:
    import base64

    return base64.b64decode(b64).hex()

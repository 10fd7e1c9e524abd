"""The AWS SDK for Python bundled into Python runtimes, as Lambda's runtimes bundle it."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import pytest

from support import SANDBOX, create_function, invoke_json

USES_BOTO3 = """
import importlib.metadata, os, sys
import boto3

s3 = boto3.client("s3", region_name="us-east-1")  # at init, as handlers usually do

def handler(event, context):
    return {"version": boto3.__version__, "file": boto3.__file__,
            "metadata": importlib.metadata.version("boto3"),
            "client": type(s3).__name__, "path": sys.path,
            "task_root": os.environ["LAMBDA_TASK_ROOT"]}
"""


def check_bundled(result: dict[str, Any]) -> None:
    assert result["version"] == result["metadata"] == boto3.__version__
    assert result["client"] == "S3"
    sdk_dir = result["file"].rsplit("/boto3/", 1)[0]
    if SANDBOX == "isolated":
        assert sdk_dir == "/var/sdk"
    # Behind the function's code, as on Lambda (where boto3 sits behind /var/task and /opt).
    path = result["path"]
    assert path.index(result["task_root"]) < path.index(sdk_dir)


def test_boto3_imports_without_being_vendored(lam: Any) -> None:
    name = create_function(lam, USES_BOTO3)
    result, response = invoke_json(lam, name)
    assert "FunctionError" not in response, result
    check_bundled(result)


@pytest.mark.skipif(SANDBOX != "isolated", reason="the other builds need isolation (root)")
@pytest.mark.parametrize("flags", [["--pool-size", "0"], ["--no-zygote"]])
def test_boto3_is_bundled_in_every_build(start_server: Any, flags: list[str]) -> None:
    """Forked on demand from the zygote, and started as a fresh interpreter (the shared
    server's first environment comes from the reserve)."""
    lam = start_server(*flags).client()
    name = create_function(lam, USES_BOTO3)
    result, response = invoke_json(lam, name)
    assert "FunctionError" not in response, result
    check_bundled(result)
    # And it reaches this firebox (AWS_ENDPOINT_URL) as the function's role session.
    code = "import boto3\ndef handler(e, c):\n    return boto3.client('sts').get_caller_identity()"
    caller = create_function(lam, code)
    identity, response = invoke_json(lam, caller)
    assert "FunctionError" not in response, identity
    assert identity["Arn"] == f"arn:aws:sts::000000000000:assumed-role/test/{caller}"


def test_a_vendored_copy_wins(lam: Any) -> None:
    files = {
        "app.py": "import boto3\ndef handler(event, context):\n    return boto3.__version__\n",
        "boto3/__init__.py": "__version__ = 'vendored'\n",
    }
    name = create_function(lam, files)
    result, _ = invoke_json(lam, name)
    assert result == "vendored"


def test_a_python39_function_importing_boto3_gets_the_hint(lam: Any) -> None:
    from firebox.runtimes.registry import RuntimeRegistry

    if "python3.9" not in RuntimeRegistry().available():
        pytest.skip("no python3.9 interpreter on this host")
    name = create_function(lam, USES_BOTO3, Runtime="python3.9")
    result, response = invoke_json(lam, name, LogType="Tail")
    assert result["errorMessage"] == "Unable to import module 'app': No module named 'boto3'"
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "python3.9 functions get no bundled AWS SDK" in tail

"""Custom runtimes: a zip whose `bootstrap` runs AWS's own runtime client, awslambdaric."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from support import invoke_json, vendored

BOOTSTRAP = """#!/bin/sh
# AWS's Python runtime interface client, vendored into the zip, as on a provided runtime.
export PYTHONPATH="$LAMBDA_TASK_ROOT"
exec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"
"""
APP = """
import os
def handler(event, context):
    if event.get("fail"):
        raise KeyError("missing thing")
    return {"ric": True, "event": event, "request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
            "function": context.function_name}
"""


@pytest.fixture(scope="module")
def ric_files() -> dict[str, bytes]:
    """awslambdaric installed with pip --target into a package directory, as users do."""
    if not os.access("/usr/bin/python3.11", os.X_OK):
        pytest.skip("needs Debian's /usr/bin/python3.11 (make bootstrap installs it)")
    return vendored("awslambdaric")


def create_provided(lam: Any, files: dict[str, Any], runtime: str = "provided.al2023") -> str:
    from support import make_zip, unique

    name = unique("ric")
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role="arn:aws:iam::000000000000:role/x",
        Handler="app.handler",
        Code={"ZipFile": make_zip(files, modes={"bootstrap": 0o755})},
    )  # fmt: skip
    return name


@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_awslambdaric_bootstrap_end_to_end(
    lam: Any, ric_files: dict[str, bytes], runtime: str
) -> None:
    name = create_provided(lam, {**ric_files, "bootstrap": BOOTSTRAP, "app.py": APP}, runtime)
    body, response = invoke_json(lam, name, {"x": 1}, LogType="Tail")
    assert "FunctionError" not in response, body
    assert body["ric"] is True and body["event"] == {"x": 1}
    assert body["function"] == name
    assert 0 < body["remaining"] <= 3000
    log = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId" in log and "REPORT RequestId" in log
    # Warm: the same environment answers again.
    again, _ = invoke_json(lam, name, {"x": 2})
    assert again["event"] == {"x": 2}

    error, response = invoke_json(lam, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "KeyError"
    assert "missing thing" in error["errorMessage"]
    assert error["stackTrace"]


def test_awslambdaric_init_error(lam: Any, ric_files: dict[str, bytes]) -> None:
    name = create_provided(lam, {**ric_files, "bootstrap": BOOTSTRAP, "app.py": "import nope\n"})
    body, response = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"


def test_missing_bootstrap_is_an_invalid_entrypoint(lam: Any) -> None:
    name = create_provided(lam, {"app.py": APP})
    body, response = invoke_json(lam, name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"


def test_shell_bootstrap_that_exits_is_an_exit_error(lam: Any) -> None:
    name = create_provided(lam, {"bootstrap": "#!/bin/sh\necho starting up\nexit 7\n"})
    body, response = invoke_json(lam, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 7" in body["errorMessage"]

"""LoggingConfig: the JSON log format (the runtime's records as JSON, START/END/REPORT as
platform events), ApplicationLogLevel filtering in Python and Node.js, SystemLogLevel WARN
hiding the platform lines, a custom log group, and what AWS refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, make_zip, unique

PYTHON = """
import logging
log = logging.getLogger()
def handler(event, context):
    log.info("an info line")
    log.warning("a warning line")
    try:
        raise KeyError("boom")
    except KeyError:
        log.exception("it failed")
    print("a plain print")
    return "ok"
"""
NODE = """
exports.handler = async () => {
  console.debug("a debug line");
  console.info("an info line");
  console.info({ structured: true });
  console.error(new TypeError("an error line"));
  return "ok";
};
"""


def tail(lam: Any, name: str) -> tuple[list[Any], list[str]]:
    """The invoke's log tail: (its JSON lines, decoded; its other lines)."""
    response = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert json.loads(response["Payload"].read()) == "ok"
    lines = base64.b64decode(response["LogResult"]).decode().splitlines()
    docs = [json.loads(line) for line in lines if line.startswith("{")]
    return docs, [line for line in lines if not line.startswith("{")]


def test_python_json_logs_with_levels(lam: Any, server: FireboxServer) -> None:
    name = create_function(lam, PYTHON, LoggingConfig={"LogFormat": "JSON",
                                                       "ApplicationLogLevel": "WARN"})  # fmt: skip
    config = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert config == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN",
                      "SystemLogLevel": "INFO", "LogGroup": f"/aws/lambda/{name}"}  # fmt: skip
    docs, plain = tail(lam, name)
    kinds = [d.get("type") or d.get("level") for d in docs]
    assert kinds == ["platform.start", "WARNING", "ERROR", "platform.runtimeDone",
                     "platform.report"]  # fmt: skip
    assert docs[1]["timestamp"].endswith("Z") and "." in docs[1]["timestamp"]
    warning, failure = docs[1], docs[2]
    assert warning["message"] == "a warning line" and warning["requestId"]
    assert failure["errorType"] == "KeyError" and failure["stackTrace"]
    report = docs[-1]["record"]
    assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128
    assert "initDurationMs" in report["metrics"]
    assert plain == ["a plain print"]  # print() stays text, as on AWS


def test_system_log_level_and_a_custom_log_group(lam: Any, server: FireboxServer) -> None:
    group = f"/firebox/tests/{unique('group')}"
    name = create_function(lam, PYTHON, LoggingConfig={
        "LogFormat": "JSON", "SystemLogLevel": "WARN", "LogGroup": group})  # fmt: skip
    docs, _ = tail(lam, name)
    assert [d.get("level") for d in docs] == ["INFO", "WARNING", "ERROR"]  # no platform lines
    logs = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert any("a warning line" in m for m in messages)
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    config = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert config == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    _, plain = tail(lam, name)
    assert plain[0].startswith("START RequestId:") and plain[-1].startswith("REPORT RequestId:")


def test_node_json_logs_filtered_by_level(lam: Any, server: FireboxServer) -> None:
    name = unique("node")
    lam.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role="arn:aws:iam::000000000000:role/test",
        Handler="index.handler", Code={"ZipFile": make_zip({"index.js": NODE})},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"},
    )  # fmt: skip
    docs, _ = tail(lam, name)
    app = [(d["level"], d["message"]) for d in docs if "level" in d]
    assert app[:2] == [("INFO", "an info line"), ("INFO", {"structured": True})]
    assert app[2][0] == "ERROR" and "an error line" in app[2][1]
    error = next(d for d in docs if d.get("level") == "ERROR")
    assert error["errorType"] == "TypeError" and error["stackTrace"]
    assert all(d["requestId"] for d in docs if "level" in d)


@pytest.mark.parametrize("logging_config", [
    {"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},
    {"LogFormat": "JSON", "SystemLogLevel": "ERROR"},
    {"LogFormat": "JSON", "LogGroup": "bad group name!"},
])  # fmt: skip
def test_bad_logging_configs_are_refused(
    lam: Any, server: FireboxServer, logging_config: dict[str, str]
) -> None:
    name = create_function(lam, PYTHON)
    with pytest.raises(ClientError) as caught:
        lam.update_function_configuration(FunctionName=name, LoggingConfig=logging_config)
    assert caught.value.response["Error"]["Code"] in ("InvalidParameterValueException",
                                                      "ValidationException")  # fmt: skip
    config = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert config["LogFormat"] == "Text"  # unchanged

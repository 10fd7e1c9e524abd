"""CloudWatch Logs' log groups through boto3: CreateLogGroup, DescribeLogGroups (with
retention), PutRetentionPolicy, DeleteRetentionPolicy, DeleteLogGroup, with AWS's errors; a
function's group exists before its first line. (Old events deleted by retention:
tests/unit/test_log_retention.py, with the time injected.)"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, invoke_json, unique

ECHO = "def handler(event, context):\n    print('hello')\n    return event\n"


def client(server: FireboxServer) -> Any:
    return boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip


def code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_log_groups_and_retention(server: FireboxServer) -> None:
    logs = client(server)
    name = f"/app/{unique('g')}"
    logs.create_log_group(logGroupName=name)
    assert code(lambda: logs.create_log_group(logGroupName=name)) == \
        "ResourceAlreadyExistsException"  # fmt: skip
    (group,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["logGroupName"] == name and "retentionInDays" not in group
    assert group["arn"].endswith(f":log-group:{name}:*")
    logs.put_retention_policy(logGroupName=name, retentionInDays=14)
    (group,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert group["retentionInDays"] == 14
    assert code(lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=8)) == \
        "InvalidParameterException"  # fmt: skip
    logs.delete_retention_policy(logGroupName=name)
    (group,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert "retentionInDays" not in group
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    assert code(lambda: logs.delete_log_group(logGroupName=name)) == "ResourceNotFoundException"
    assert code(lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=1)) == \
        "ResourceNotFoundException"  # fmt: skip
    assert code(lambda: logs.create_log_group(logGroupName="bad name!")) == \
        "InvalidParameterException"  # fmt: skip


def test_a_functions_group_takes_a_retention_before_its_first_line(
    lam: Any, server: FireboxServer
) -> None:
    logs = client(server)
    name = create_function(lam, ECHO)
    group = f"/aws/lambda/{name}"
    logs.put_retention_policy(logGroupName=group, retentionInDays=3)
    invoke_json(lam, name, {})
    (described,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 3
    assert any("hello" in e["message"] for e in logs.filter_log_events(
        logGroupName=group)["events"])  # fmt: skip


PRINTER = """
import json
def handler(event, context):
    for level, status in (("ERROR", 500), ("INFO", 200), ("ERROR", 503), ("WARN", 429)):
        print(json.dumps({"level": level, "status": status}))
    print("plain ERROR line")
"""


def test_filter_patterns_through_the_api(lam: Any, server: FireboxServer) -> None:
    logs = client(server)
    name = create_function(lam, PRINTER)
    invoke_json(lam, name, {})
    group = f"/aws/lambda/{name}"

    def messages(pattern: str, **extra: Any) -> list[str]:
        found = logs.filter_log_events(logGroupName=group, filterPattern=pattern, **extra)
        return [e["message"].strip() for e in found["events"]]

    assert messages('{ $.level = "ERROR" }') == ['{"level": "ERROR", "status": 500}',
                                                 '{"level": "ERROR", "status": 503}']  # fmt: skip
    assert messages("{ $.status >= 429 && $.level != ERROR }") == [
        '{"level": "WARN", "status": 429}']  # fmt: skip
    assert messages('ERROR -"status"') == ["plain ERROR line"]
    assert len(messages("?WARN ?plain")) == 2
    # Pages of matching lines: one per page, each token going on after the last.
    first = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }',
                                   limit=1)  # fmt: skip
    second = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }',
                                    limit=1, nextToken=first["nextToken"])  # fmt: skip
    assert [e["message"].strip() for e in first["events"] + second["events"]] == [
        '{"level": "ERROR", "status": 500}', '{"level": "ERROR", "status": 503}']  # fmt: skip
    assert code(lambda: logs.filter_log_events(logGroupName=group,
                                               filterPattern="{ $.a = ")) == \
        "InvalidParameterException"  # fmt: skip

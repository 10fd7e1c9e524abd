"""serverless.yml compiled into a template: the cases the Framework refuses or merges in its
own way, checked without a server (the common cases are compared with the Framework itself in
tests/system/test_deploy_compile.py)."""

from __future__ import annotations

from typing import Any

import pytest

from firebox.deploy.compile import compile_service
from firebox.deploy.config import complete
from firebox.deploy.yamlfile import ConfigError


def compiled(functions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    config = complete({"service": "s", "provider": {"name": "aws", "runtime": "python3.11"},
                       "functions": functions, **extra}, {})  # fmt: skip
    template: dict[str, Any] = compile_service(config, {k: "ab" * 32 for k in functions}).template
    return template


def test_one_existing_bucket_per_function() -> None:
    with pytest.raises(ConfigError, match=r'configure "one" and "two" at the same time'):
        compiled({"f": {"handler": "h.h", "events": [
            {"s3": {"bucket": "one", "existing": True}},
            {"s3": {"bucket": "two", "existing": True}}]}})  # fmt: skip


@pytest.mark.parametrize(("event", "message"), [
    ({"s3": None}, "s3: expected a bucket name or an object"),
    ({"s3": {"bucket": "b", "rules": {"prefix": "x"}}}, "rules must be a list"),
    ({"sns": None}, "sns: expected a topic name, an ARN or an object"),
    ({"httpApi": 3}, "httpApi: expected 'METHOD /path' or an object"),
    ({"schedule": {"rate": []}}, "expected rate"),
    ({"eventBridge": {"input": {}}}, "a pattern or a schedule is required"),
])  # fmt: skip
def test_malformed_events_are_clear_errors(event: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compiled({"f": {"handler": "h.h", "events": [event]}})


def test_an_sns_arn_is_the_permissions_source() -> None:
    resources = compiled({"f": {"handler": "h.h", "events": [
        {"sns": {"arn": {"Ref": "Alerts"}, "topicName": "alerts"}}]}})["Resources"]  # fmt: skip
    assert resources["FLambdaPermissionAlertsSNS"]["Properties"]["SourceArn"] == {"Ref": "Alerts"}
    assert resources["FSnsSubscriptionAlerts"]["Properties"]["TopicArn"] == {"Ref": "Alerts"}
    assert "SNSTopicAlerts" not in resources


def test_resources_and_extensions_merge_as_the_framework_merges_them() -> None:
    template = compiled({"f": {"handler": "h.h"}}, resources={
        "Conditions": {"Prod": {"Fn::Equals": ["a", "b"]}},
        "Resources": {"FLambdaFunction": {"Properties": {"Timeout": 30}}},
        "extensions": {"FLambdaFunction": {"DependsOn": ["Extra"],
                                           "Properties": {"Environment": {"Variables": {}}}}},
    })  # fmt: skip
    function = template["Resources"]["FLambdaFunction"]
    assert function["Properties"]["Timeout"] == 30
    assert function["Properties"]["Handler"] == "h.h"  # merged over, not replaced
    assert function["DependsOn"] == ["FLogGroup", "IamRoleLambdaExecution", "Extra"]
    assert function["Properties"]["Environment"] == {"Variables": {}}
    assert template["Conditions"] == {"Prod": {"Fn::Equals": ["a", "b"]}}  # the server says no
    with pytest.raises(ConfigError, match='Cannot extend "Nope" resource'):
        compiled({"f": {"handler": "h.h"}}, resources={"extensions": {"Nope": {}}})


def test_destinations_to_a_function_of_the_service() -> None:
    resources = compiled({
        "f": {"handler": "h.h", "maximumRetryAttempts": 0,
              "destinations": {"onFailure": "g"}},
        "g": {"handler": "h.g"},
    })["Resources"]  # fmt: skip
    config = resources["FLambdaEvConf"]["Properties"]
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["GLambdaFunction", "Arn"]}}
    }
    statements = resources["IamRoleLambdaExecution"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {
        "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                   "s-dev-g"}} in statements  # fmt: skip
    with pytest.raises(ConfigError, match="neither an ARN nor a function of this service"):
        compiled({"f": {"handler": "h.h", "destinations": {"onSuccess": "nope"}}})


def test_plugins_are_reported_not_run_and_log_retention_applied() -> None:
    config = complete(
        {
            "service": "s",
            "provider": {"name": "aws", "logRetentionInDays": 7},
            "plugins": ["serverless-offline"],
            "functions": {
                "f": {"handler": "h.h"},
                "g": {"handler": "h.g", "logRetentionInDays": 1},
            },
        },
        {},
    )
    compiled = compile_service(config, {"f": "ab" * 32, "g": "ab" * 32})
    assert compiled.warnings == ["plugin serverless-offline: read, not run (firebox runs no "
                                 "plugins)"]  # fmt: skip
    groups = {k: v["Properties"] for k, v in compiled.template["Resources"].items()
              if v["Type"] == "AWS::Logs::LogGroup"}  # fmt: skip
    assert groups == {
        "FLogGroup": {"LogGroupName": "/aws/lambda/s-dev-f", "RetentionInDays": 7},
        "GLogGroup": {"LogGroupName": "/aws/lambda/s-dev-g", "RetentionInDays": 1},
    }

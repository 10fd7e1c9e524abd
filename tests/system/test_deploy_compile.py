"""serverless.yml compiled into a stack template as the Serverless Framework v3 compiles it for
CloudFormation, checked against the Framework itself (`serverless package`, offline): the same
logical ids (which `resources` written for the Framework refer to) and the same properties,
for a service using every event type firebox deploys.

Where firebox differs on purpose (each in docs/compatibility.md): API Gateway's resources are
firebox HTTP routes; the Framework's custom resource for `existing: true` buckets is firebox's
own type, with a permission for S3 beside it; the deployment bucket is not made; a package's
CodeSha256 is that of firebox's package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firebox.deploy.compile import compile_service
from firebox.deploy.config import load_service
from firebox.stacks.intrinsics import Scope, resolve

APP = Path(__file__).parents[1] / "fixtures" / "serverless-compile" / "app"
SERVERLESS = (
    Path(sys.executable).parent.parent / "serverless" / "node_modules" / ".bin" / "serverless"
)
NOT_MADE = ("AWS::ApiGateway::RestApi", "AWS::ApiGateway::Resource",
            "AWS::ApiGateway::Deployment", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage",
            "AWS::ApiGatewayV2::Integration", "AWS::S3::BucketPolicy")  # fmt: skip
AS_FIREBOX = {"AWS::ApiGatewayV2::Route": "Firebox::Http::Route",
              "AWS::ApiGateway::Method": "Firebox::Http::Route",
              "Custom::S3": "Firebox::S3::BucketNotifications"}  # fmt: skip


@pytest.fixture(scope="module")
def framework(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert SERVERLESS.exists(), f"{SERVERLESS} is missing: run make bootstrap"
    out = tmp_path_factory.mktemp("package")
    environ = {**os.environ, "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
               "SLS_DEPRECATION_DISABLE": "*", "AWS_ACCESS_KEY_ID": "x",
               "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
    run = subprocess.run([str(SERVERLESS), "package", "--package", str(out)], cwd=APP,
                         env=environ, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    template: dict[str, Any] = json.loads(
        (out / "cloudformation-template-update-stack.json").read_text()
    )
    return template


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    config = load_service(APP / "serverless.yml", {})
    return compile_service(config, {k: "ab" * 32 for k in config["functions"]}).template


def _key(logical_id: str) -> str:
    """Version ids end in a hash of the package: compared without it."""
    head, found, _ = logical_id.partition("LambdaVersion")
    return head + found


def _resolved(properties: Any) -> Any:
    """Both templates resolved alike: references become names of what they point at."""
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "000000000000",
              "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}  # fmt: skip
    return resolve(properties, Scope(pseudo, lambda lid: f"ref:{lid}",
                                     lambda lid, name: f"att:{lid}.{name}"))  # fmt: skip


def _made(template: dict[str, Any], firebox: bool) -> dict[str, tuple[str, dict[str, Any]]]:
    out = {}
    for lid, body in template["Resources"].items():
        kind = body["Type"]
        if not firebox:
            if (
                kind in NOT_MADE
                or lid.startswith("ServerlessDeploymentBucket")
                or "CustomDashresource" in lid
                or lid == "IamRoleCustomResourcesLambdaExecution"
            ):
                continue
            kind = AS_FIREBOX.get(kind, kind)
        out[_key(lid)] = (kind, body)
    return out


def test_the_same_resources_under_the_same_logical_ids(framework: dict[str, Any],
                                                        ours: dict[str, Any]) -> None:  # fmt: skip
    theirs, mine = _made(framework, False), _made(ours, True)
    # The one resource firebox adds: S3's permission to invoke for an existing bucket (the
    # Framework's custom resource grants it when it runs).
    assert set(mine) - set(theirs) == {"UploadsLambdaPermissionShoparchiveS3"}
    assert set(theirs) - set(mine) == set()
    assert {lid: kind for lid, (kind, _) in theirs.items()} == \
        {lid: kind for lid, (kind, _) in mine.items() if lid in theirs}  # fmt: skip


def test_the_same_properties(framework: dict[str, Any], ours: dict[str, Any]) -> None:
    theirs, mine = _made(framework, False), _made(ours, True)
    compared = 0
    for lid, (kind, body) in theirs.items():
        if kind.startswith("Firebox::"):
            continue
        expected = _resolved(body.get("Properties", {}))
        got = _resolved(mine[lid][1].get("Properties", {}))
        for member in ("Code", "Role", "CodeSha256"):  # packages and roles: checked below
            expected.pop(member, None)
            got.pop(member, None)
        if kind == "AWS::Lambda::Permission" and expected.get("Principal") == \
                "apigateway.amazonaws.com":  # fmt: skip
            expected.pop("SourceArn")  # an API Gateway API's ARN: firebox has none
        assert got == expected, lid
        compared += 1
    assert compared >= 30
    roles = {lid: _resolved(mine[lid][1]["Properties"]["Role"])
             for lid, (kind, _) in theirs.items() if kind == "AWS::Lambda::Function"}  # fmt: skip
    assert set(roles.values()) == {"att:IamRoleLambdaExecution.Arn"}


def test_http_routes_as_the_framework_routes_them(framework: dict[str, Any],
                                                  ours: dict[str, Any]) -> None:  # fmt: skip
    theirs, mine = _made(framework, False), _made(ours, True)
    routes = {lid: mine[lid][1]["Properties"] for lid, (kind, _) in theirs.items()
              if kind == "Firebox::Http::Route"}  # fmt: skip
    assert (
        routes["HttpApiRouteGetOrdersIdVar"]["RouteKey"]
        == theirs["HttpApiRouteGetOrdersIdVar"][1]["Properties"]["RouteKey"]
        == "GET /orders/{id}"
    )
    assert routes["HttpApiRoutePostOrders"]["RouteKey"] == "POST /orders"
    assert routes["ApiGatewayMethodItemsItemidVarGet"] == {
        "RouteKey": "GET /items/{itemId}", "PayloadFormatVersion": "1.0",
        "FunctionName": {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}}  # fmt: skip
    assert theirs["ApiGatewayMethodItemsItemidVarGet"][1]["Properties"]["HttpMethod"] == "GET"
    assert routes["ApiGatewayMethodItemsPost"]["RouteKey"] == "POST /items"
    assert {lid for lid, (kind, _) in theirs.items() if kind == "Firebox::Http::Route"} == \
        {lid for lid, (kind, _) in mine.items() if kind == "Firebox::Http::Route"}  # fmt: skip


def test_the_same_outputs(framework: dict[str, Any], ours: dict[str, Any]) -> None:
    # HttpApiId and the deployment bucket's name name things firebox does not make.
    expected = set(framework["Outputs"]) - {"HttpApiId", "ServerlessDeploymentBucketName"}
    assert set(ours["Outputs"]) == expected

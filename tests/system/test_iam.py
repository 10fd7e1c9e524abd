"""Roles, resource-based policies and --iam: who may call what, through real SDK calls.

A function in the default isolated sandbox signs with its environment's credentials (its role's
session) and calls STS and Lambda through AWS_ENDPOINT_URL; the server decides with its role's
policies and the callee's resource policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, invoke_json, make_zip, unique, wait_for

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})  # fmt: skip
INVOKE_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})  # fmt: skip
# Calls another function (event["target"]) with the environment's own credentials.
CALLER = (
    "import json, boto3\n"
    "from botocore.exceptions import ClientError\n"
    "def handler(event, context):\n"
    "    me = boto3.client('sts').get_caller_identity()['Arn']\n"
    "    try:\n"
    "        answer = boto3.client('lambda').invoke(FunctionName=event['target'])\n"
    "        return {'me': me, 'got': json.loads(answer['Payload'].read())}\n"
    "    except ClientError as exc:\n"
    "        return {'me': me, 'error': exc.response['Error']['Code'],\n"
    "                'message': exc.response['Error']['Message']}\n"
)


def client(server: FireboxServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}))  # fmt: skip


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("iam") / "data", "--iam", "enforce")
    server.start()
    yield server
    server.stop()


def role(server: FireboxServer, policy: str | None = None) -> str:
    iam = client(server, "iam")
    name = unique("role")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=policy)
    return arn


def test_roles_and_their_policies(enforcing: FireboxServer) -> None:
    iam = client(enforcing, "iam")
    name = unique("role")
    tags = [{"Key": "team", "Value": "a"}]
    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Path="/app/",
                              Description="d", Tags=tags)["Role"]  # fmt: skip
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/app/{name}"
    assert created["RoleId"].startswith("AROA") and created["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    # botocore decodes the URL-encoded document IAM sends back into the policy itself.
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert iam.get_role(RoleName=name.upper())["Role"]["RoleName"] == name  # any case
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=name.upper(), AssumeRolePolicyDocument=TRUST)
    assert error_of(exc) == (409, "EntityAlreadyExists")
    assert name in [r["RoleName"] for r in iam.list_roles(PathPrefix="/app/")["Roles"]]
    assert name not in [r["RoleName"] for r in iam.list_roles(PathPrefix="/other/")["Roles"]]

    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=INVOKE_ALL)
    assert iam.get_role_policy(RoleName=name, PolicyName="invoke")["PolicyDocument"] == (
        json.loads(INVOKE_ALL)
    )
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["invoke"]
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=name, PolicyArn=basic)
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": basic}
    ]
    for bad, code in (
        (lambda: iam.put_role_policy(RoleName=name, PolicyName="x", PolicyDocument="{nope"),
         (400, "MalformedPolicyDocument")),
        (lambda: iam.put_role_policy(RoleName=name, PolicyName="x", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "x"}]})),
         (400, "MalformedPolicyDocument")),
        (lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/No"),
         (404, "NoSuchEntity")),
        (lambda: iam.get_role(RoleName="missing-role"), (404, "NoSuchEntity")),
        (lambda: iam.get_role_policy(RoleName=name, PolicyName="other"), (404, "NoSuchEntity")),
        (lambda: iam.delete_role(RoleName=name), (409, "DeleteConflict")),
        (lambda: iam.create_role(RoleName="bad name!", AssumeRolePolicyDocument=TRUST),
         (400, "ValidationError")),
    ):  # fmt: skip
        with pytest.raises(ClientError) as exc:
            bad()
        assert error_of(exc) == code
    # Nothing the refused calls asked for was stored.
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["invoke"]
    iam.delete_role_policy(RoleName=name, PolicyName="invoke")
    iam.detach_role_policy(RoleName=name, PolicyArn=basic)
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert error_of(exc) == (404, "NoSuchEntity")


def test_resource_policies(enforcing: FireboxServer) -> None:
    lam = client(enforcing, "lambda")
    name = create_function(lam, "def handler(event, context):\n    return 1\n", Publish=True)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    added = json.loads(lam.add_permission(
        FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads",
        SourceAccount=ACCOUNT)["Statement"])  # fmt: skip
    assert added == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"}},
    }  # fmt: skip
    lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:GetFunction",
                       Principal="111122223333")  # fmt: skip
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")  # fmt: skip
    got = lam.get_policy(FunctionName=name)
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17" and [s["Sid"] for s in policy["Statement"]] == [
        "s3", "acct", "url"]  # fmt: skip
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["Statement"][2]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}  # fmt: skip
    # A version has a policy of its own.
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name, Qualifier="1")
    assert error_of(exc) == (404, "ResourceNotFoundException")
    lam.add_permission(FunctionName=name, Qualifier="1", StatementId="v", Principal="*",
                       Action="lambda:InvokeFunction")  # fmt: skip
    assert json.loads(lam.get_policy(FunctionName=name, Qualifier="1")["Policy"])["Statement"][0][
        "Resource"] == f"{arn}:1"  # fmt: skip

    refused = [
        (dict(StatementId="s3", Action="lambda:InvokeFunction", Principal="*"),
         (409, "ResourceConflictException")),
        (dict(StatementId="x", Action="lambda:InvokeFunction", Principal="*",
              RevisionId="not-the-one"), (412, "PreconditionFailedException")),
        (dict(StatementId="x", Action="s3:GetObject", Principal="*"),
         (400, "ValidationException")),
        (dict(StatementId="x", Action="lambda:InvokeFunction", Principal="somebody"),
         (400, "InvalidParameterValueException")),
        (dict(StatementId="x", Action="lambda:InvokeFunction", Principal="*", Qualifier="9"),
         (404, "ResourceNotFoundException")),
    ]  # fmt: skip
    for arguments, code in refused:
        with pytest.raises(ClientError) as exc:
            lam.add_permission(FunctionName=name, **arguments)
        assert error_of(exc) == code, arguments
    assert lam.get_policy(FunctionName=name)["RevisionId"] == got["RevisionId"]  # unchanged

    with pytest.raises(ClientError) as exc:
        lam.remove_permission(FunctionName=name, StatementId="nope")
    assert error_of(exc) == (404, "ResourceNotFoundException")
    lam.remove_permission(FunctionName=name, StatementId="s3", RevisionId=got["RevisionId"])
    left = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert [s["Sid"] for s in left] == ["acct", "url"]

    # Durable: a server killed outright still has them; deleting the function removes them.
    enforcing.kill()
    enforcing.start()
    assert len(json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]) == 2
    lam.delete_function(FunctionName=name)
    create_function(lam, "def handler(event, context):\n    return 1\n", FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name)
    assert error_of(exc) == (404, "ResourceNotFoundException")


def test_enforce_decides_a_functions_calls_by_its_role(enforcing: FireboxServer) -> None:
    lam = client(enforcing, "lambda")
    target = create_function(lam, "def handler(event, context):\n    return 'target ran'\n")
    allowed = create_function(lam, CALLER, Role=role(enforcing, INVOKE_ALL))
    denied_role = role(enforcing)
    denied = create_function(lam, CALLER, Role=denied_role)

    body, _ = invoke_json(lam, allowed, {"target": target})
    assert body["got"] == "target ran"
    assert body["me"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/role-")
    assert body["me"].endswith(f"/{allowed}")

    body, _ = invoke_json(lam, denied, {"target": target})
    assert body["error"] == "AccessDeniedException", body
    assert body["me"].endswith(f"/{denied}")  # GetCallerIdentity needs no permission
    target_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{target}"
    assert body["message"] == (
        f"User: {body['me']} is not authorized to perform: lambda:InvokeFunction on resource: "
        f"{target_arn} because no identity-based policy allows the lambda:InvokeFunction action"
    )
    # The target's resource policy may allow the role instead (same account: either suffices).
    lam.add_permission(FunctionName=target, StatementId="caller", Principal=denied_role,
                       Action="lambda:InvokeFunction")  # fmt: skip
    body, _ = invoke_json(lam, denied, {"target": target})
    assert body.get("got") == "target ran", body
    # An explicit Deny in the role wins over the resource policy's Allow.
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "lambda:*", "Resource": target_arn}]})  # fmt: skip
    client(enforcing, "iam").put_role_policy(RoleName=denied_role.rsplit("/", 1)[-1],
                                             PolicyName="deny", PolicyDocument=deny)  # fmt: skip
    body, _ = invoke_json(lam, denied, {"target": target})
    assert body["error"] == "AccessDeniedException" and "explicit deny" in body["message"]
    # A role that does not exist: the function runs, its calls are denied.
    orphan = create_function(lam, CALLER, Role=f"arn:aws:iam::{ACCOUNT}:role/never-made")
    body, _ = invoke_json(lam, orphan, {"target": target})
    assert body["error"] == "AccessDeniedException" and "role does not exist" in body["message"]
    # The account's own keys (outside, `x` here) are the root's: never denied.
    assert invoke_json(lam, target)[0] == "target ran"


def test_report_mode_allows_and_logs_what_enforce_would_deny(
    start_server: Any,
) -> None:
    server: FireboxServer = start_server()  # --iam report is the default
    lam = client(server, "lambda")
    target = create_function(lam, "def handler(event, context):\n    return 'target ran'\n")
    # (boto3 takes seconds to import at 128 MB's share of a core on a busy machine)
    caller = create_function(lam, CALLER, Role=role(server), Timeout=30, MemorySize=512)
    body, _ = invoke_json(lam, caller, {"target": target})
    assert body["got"] == "target ran"
    wait_for(lambda: "iam report: would deny" in server.log_path.read_text())
    assert f"lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:{ACCOUNT}:function:" \
        f"{target}" in server.log_path.read_text()  # fmt: skip


def altered(text: str) -> str:
    """The text with its last character changed (to another one, always)."""
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def signed_get(url: str, key: str, secret: str, token: str | None = None) -> httpx.Response:
    """A GET signed with SigV4 for lambda, as an SDK (or awscurl) would send it."""
    request = AWSRequest("GET", url)
    SigV4Auth(Credentials(key, secret, token), "lambda", "us-east-1").add_auth(request)
    return httpx.get(url, headers=dict(request.headers.items()))


def test_aws_iam_function_urls(enforcing: FireboxServer) -> None:
    lam = client(enforcing, "lambda")
    code = (
        "import json\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200,\n"
        "            'body': json.dumps(event['requestContext'].get('authorizer'))}\n"
    )
    name = create_function(lam, code)
    config = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert config["AuthType"] == "AWS_IAM"
    url_id = config["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    url = f"{enforcing.url}/lambda-url/{url_id}/hello"

    unsigned = httpx.get(url)
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    root = signed_get(url, "x", "x")  # the account's own keys (open mode on loopback)
    assert root.status_code == 200, root.text
    assert root.json()["iam"]["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"

    # A role's session: denied until its policy (or the function's) allows the URL.
    sts = client(enforcing, "sts")
    role_arn = role(enforcing)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="browser")["Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert signed_get(url, *session).status_code == 403
    lam.add_permission(FunctionName=name, StatementId="role", Principal=role_arn,
                       Action="lambda:InvokeFunctionUrl",
                       FunctionUrlAuthType="AWS_IAM")  # fmt: skip
    allowed = signed_get(url, *session)
    assert allowed.status_code == 200, allowed.text
    iam = allowed.json()["iam"]
    assert iam["accessKey"] == creds["AccessKeyId"] and iam["accountId"] == ACCOUNT
    role_name = role_arn.split("/")[-1]
    assert iam["userArn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/browser"
    # Tampered credentials are refused whatever the policies say.
    assert signed_get(url, creds["AccessKeyId"], "wrong", creds["SessionToken"]).status_code == 403
    assert signed_get(url, creds["AccessKeyId"], creds["SecretAccessKey"],
                      altered(creds["SessionToken"])).status_code == 403  # fmt: skip


def session_client(server: FireboxServer, service: str, creds: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"],
                        config=Config(retries={"max_attempts": 0}))  # fmt: skip


def trust(principal: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})  # fmt: skip


def test_pass_role_and_assume_role_are_decided(enforcing: FireboxServer) -> None:
    iam, sts = client(enforcing, "iam"), client(enforcing, "sts")
    deployer = unique("deployer")
    deployer_arn = iam.create_role(RoleName=deployer, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=deployer, PolicyName="lambda", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}))  # fmt: skip
    creds = sts.assume_role(RoleArn=deployer_arn, RoleSessionName="ci")["Credentials"]
    me = session_client(enforcing, "sts", creds).get_caller_identity()
    role_id = iam.get_role(RoleName=deployer)["Role"]["RoleId"]
    assert me["UserId"] == f"{role_id}:ci" and me["Arn"].endswith(f":assumed-role/{deployer}/ci")

    # Creating a function with a role is passing the role: lambda:* alone does not allow it.
    lam = session_client(enforcing, "lambda", creds)
    target_role = role(enforcing)
    params = {"FunctionName": unique(), "Runtime": "python3.11", "Handler": "app.handler",
              "Role": target_role, "Code": {"ZipFile": make_zip({"app.py": "x = 1"})}}  # fmt: skip
    with pytest.raises(ClientError) as exc:
        lam.create_function(**params)
    assert error_of(exc) == (403, "AccessDeniedException")
    assert "iam:PassRole" in exc.value.response["Error"]["Message"]
    basic = "arn:aws:iam::aws:policy/AWSLambda_FullAccess"  # PassRole, to Lambda only
    iam.attach_role_policy(RoleName=deployer, PolicyArn=basic)
    assert lam.create_function(**params)["Role"] == target_role

    # AssumeRole from a role session: the target's trust policy decides.
    sts_as_deployer = session_client(enforcing, "sts", creds)
    trusting = unique("trusting")
    trusting_arn = iam.create_role(RoleName=trusting,
                                   AssumeRolePolicyDocument=trust({"AWS": deployer_arn})
                                   )["Role"]["Arn"]  # fmt: skip
    chained = sts_as_deployer.assume_role(RoleArn=trusting_arn, RoleSessionName="s2")
    assert chained["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/{trusting}/s2")
    with pytest.raises(ClientError) as exc:  # chained sessions last an hour at most
        sts_as_deployer.assume_role(RoleArn=trusting_arn, RoleSessionName="s2",
                                    DurationSeconds=7200)  # fmt: skip
    assert error_of(exc) == (400, "ValidationError")
    for arn in (role(enforcing),  # trusts Lambda only
                f"arn:aws:iam::{ACCOUNT}:role/never-made"):  # fmt: skip
        with pytest.raises(ClientError) as exc:
            sts_as_deployer.assume_role(RoleArn=arn, RoleSessionName="s2")
        assert error_of(exc) == (403, "AccessDenied")
    # An account principal delegates to the caller's own policies.
    delegating = unique("delegating")
    delegating_arn = iam.create_role(RoleName=delegating,
                                     AssumeRolePolicyDocument=trust({"AWS": ACCOUNT})
                                     )["Role"]["Arn"]  # fmt: skip
    with pytest.raises(ClientError) as exc:
        sts_as_deployer.assume_role(RoleArn=delegating_arn, RoleSessionName="s2")
    assert error_of(exc) == (403, "AccessDenied")
    allow = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": delegating_arn}
    iam.put_role_policy(RoleName=deployer, PolicyName="assume", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow]}))  # fmt: skip
    assert sts_as_deployer.assume_role(RoleArn=delegating_arn, RoleSessionName="s2")


S3_WRITER = """
import boto3
from botocore.exceptions import ClientError
def handler(event, context):
    s3 = boto3.client("s3")
    out = {}
    for key in ("allowed/a.txt", "other/b.txt"):
        try:
            s3.put_object(Bucket=event["bucket"], Key=key, Body=b"from a function")
            out[key] = "ok"
        except ClientError as exc:
            out[key] = exc.response["Error"]["Code"]
    try:
        got = s3.get_object(Bucket=event["bucket"], Key="allowed/a.txt")
        out["read"] = got["Body"].read().decode()
    except ClientError as exc:
        out["read"] = exc.response["Error"]["Code"]
    deleted = s3.delete_objects(Bucket=event["bucket"], Delete={"Objects": [
        {"Key": "allowed/a.txt"}, {"Key": "other/c.txt"}]})
    out["deleted"] = [d["Key"] for d in deleted.get("Deleted", [])]
    out["refused"] = [(e["Key"], e["Code"]) for e in deleted.get("Errors", [])]
    return out
"""


def test_enforce_decides_a_functions_s3_calls(enforcing: FireboxServer) -> None:
    """S3 from inside a function: its role's policy decides each object, with S3's ARNs."""
    s3 = client(enforcing, "s3")
    bucket = unique("iam").lower().replace("_", "-")
    s3.create_bucket(Bucket=bucket)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{bucket}/allowed/*"}]})  # fmt: skip
    writer = create_function(client(enforcing, "lambda"), S3_WRITER, Role=role(enforcing, policy))
    s3.put_object(Bucket=bucket, Key="other/c.txt", Body=b"not the function's to delete")
    body, _ = invoke_json(client(enforcing, "lambda"), writer, {"bucket": bucket})
    assert body == {
        "allowed/a.txt": "ok",
        "other/b.txt": "AccessDenied",
        "read": "AccessDenied",
        "deleted": ["allowed/a.txt"],
        "refused": [["other/c.txt", "AccessDenied"]],
    }
    # DeleteObjects is decided key by key: the one it may delete went, the other stayed
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["other/c.txt"]


def test_enforce_needs_a_functions_permission_for_sns(enforcing: FireboxServer) -> None:
    """SNS invokes a function only if its resource policy allows sns.amazonaws.com for the
    topic (checked at delivery, as on AWS): under enforce, other deliveries are dropped."""
    sns, lam, logs = (client(enforcing, n) for n in ("sns", "lambda", "logs"))
    topic = sns.create_topic(Name=unique("perm"))["TopicArn"]
    code = "import json\ndef handler(event, context):\n    print('GOT ' + json.dumps(event))\n"
    names = []
    for allowed in (False, True):  # subscribed in this order: the refused one goes first
        name = create_function(lam, code)
        if allowed:
            lam.add_permission(
                FunctionName=name,
                StatementId="sns",
                Principal="sns.amazonaws.com",
                Action="lambda:InvokeFunction",
                SourceArn=topic,
            )
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
        names.append(name)
    sns.publish(TopicArn=topic, Message="hello")

    def got(name: str) -> list[Any]:
        try:
            return logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                          filterPattern="GOT")["events"]  # fmt: skip
        except ClientError:
            return []

    wait_for(lambda: got(names[1]), timeout=30)
    assert got(names[0]) == []
    assert "does not allow sns.amazonaws.com" in enforcing.log_path.read_text()

"""`firebox deploy`, `info` and `remove` against a real server, checked through the AWS APIs
(boto3): every event type and resource type a serverless.yml may use, a second deploy that
changes nothing, edits that update and publish, removed functions and events deleted, a
failure part-way repaired by the next deploy, and bad input refused with nothing changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from support import FIREBOX, FireboxServer, recorded_events, wait_for

HANDLER = """
import json, os
def handler(event, context):
    print("EVENT " + json.dumps(event))
    if "requestContext" in event:
        return {"statusCode": 200, "body": json.dumps({
            "version": event.get("version", "1.0"), "params": event.get("pathParameters"),
            "tag": os.environ["TAG"]})}
    if "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":
        return {"batchItemFailures": []}
    return {"tag": os.environ["TAG"]}
"""

SERVICE = """
service: shop
frameworkVersion: '3'
provider:
  name: aws
  runtime: python3.11
  memorySize: 192
  timeout: 10
  logRetentionInDays: 14
  environment:
    TAG: ${param:tag, 'one'}
    QUEUE_URL: !Ref Jobs
  iam:
    role:
      statements:
        - Effect: Allow
          Action: [sqs:SendMessage]
          Resource: !GetAtt Jobs.Arn
functions:
  api:
    handler: handler.handler
    url: true
    events:
      - httpApi: 'GET /hello/{name}'
      - http: 'POST items'
  worker:
    handler: handler.handler
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
          batchSize: 5
          functionResponseType: ReportBatchItemFailures
      - s3:
          bucket: shop-uploads
          rules:
            - suffix: .csv
      - schedule:
          rate: rate(1 hour)
          input: {"job": "hourly"}
      - sns: shop-alerts
      - eventBridge:
          pattern:
            source: [shop.orders]
resources:
  Resources:
    Jobs:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: shop-jobs
        VisibilityTimeout: 60
    Audit:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: shop-audit
    AuditTopic:
      Type: AWS::SNS::Topic
      Properties:
        TopicName: shop-audit
    AuditSubscription:
      Type: AWS::SNS::Subscription
      Properties:
        TopicArn: !Ref AuditTopic
        Protocol: sqs
        Endpoint: !GetAtt Audit.Arn
        RawMessageDelivery: true
    AuditRule:
      Type: AWS::Events::Rule
      Properties:
        EventPattern:
          source: [shop.audit]
        Targets:
          - Arn: !GetAtt Audit.Arn
            Id: audit
    Reports:
      Type: AWS::S3::Bucket
      DependsOn: AuditPolicy
      Properties:
        BucketName: shop-reports
        NotificationConfiguration:
          QueueConfigurations:
            - Event: s3:ObjectCreated:*
              Queue: !GetAtt Audit.Arn
              Filter:
                S3Key:
                  Rules:
                    - Name: prefix
                      Value: daily/
    AuditPolicy:
      Type: AWS::SQS::QueuePolicy
      Properties:
        Queues: [!Ref Audit]
        PolicyDocument:
          Version: '2012-10-17'
          Statement:
            - Effect: Allow
              Principal: {Service: s3.amazonaws.com}
              Action: sqs:SendMessage
              Resource: !GetAtt Audit.Arn
    Auditor:
      Type: AWS::IAM::Role
      Properties:
        RoleName: shop-auditor
        AssumeRolePolicyDocument:
          Version: '2012-10-17'
          Statement:
            - Effect: Allow
              Principal: {Service: lambda.amazonaws.com}
              Action: sts:AssumeRole
        Policies:
          - PolicyName: read-audit
            PolicyDocument:
              Version: '2012-10-17'
              Statement:
                - Effect: Allow
                  Action: [sqs:ReceiveMessage]
                  Resource: !GetAtt Audit.Arn
        ManagedPolicyArns:
          - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
    Cache:
      Type: AWS::ElastiCache::CacheCluster
      Properties:
        CacheNodeType: cache.t3.micro
  Outputs:
    JobsUrl:
      Value: !Ref Jobs
"""


def aws(server: FireboxServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip


def firebox(server: FireboxServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIREBOX_ENDPOINT": server.url, "XDG_CACHE_HOME": str(cwd / ".cache"),
           "COLUMNS": "200"}  # fmt: skip
    return subprocess.run([FIREBOX, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def write(service: Path, yml: str = SERVICE, handler: str = HANDLER) -> Path:
    service.mkdir(exist_ok=True)
    (service / "serverless.yml").write_text(textwrap.dedent(yml))
    (service / "handler.py").write_text(handler)
    return service


@pytest.fixture
def deployed(start_server: Any, tmp_path: Path) -> tuple[FireboxServer, Path]:
    server = start_server()
    service = write(tmp_path / "shop")
    done = firebox(server, service, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CREATE_COMPLETE stack shop-dev" in done.stdout
    assert "AuditRule" in done.stdout and "Cache" in done.stdout
    assert "firebox does not make AWS::ElastiCache::CacheCluster resources; skipped" in \
        done.stdout  # fmt: skip
    return server, service


def events_of(server: FireboxServer, name: str, count: int = 1) -> list[dict[str, Any]]:
    logs = aws(server, "logs")
    found: list[dict[str, Any]] = wait_for(
        lambda: (lambda e: e if len(e) >= count else None)(recorded_events(logs, name)), 30
    )
    return found


def test_every_event_and_resource_is_made_and_works(deployed: tuple[FireboxServer, Path]) -> None:
    server, _ = deployed
    lam, sqs, sns, s3, events, iam = (aws(server, s) for s in
                                      ("lambda", "sqs", "sns", "s3", "events", "iam"))  # fmt: skip
    jobs_url = sqs.get_queue_url(QueueName="shop-jobs")["QueueUrl"]
    config = lam.get_function(FunctionName="shop-dev-worker")["Configuration"]
    assert config["MemorySize"] == 192 and config["Timeout"] == 10
    assert config["Environment"]["Variables"] == {"TAG": "one", "QUEUE_URL": jobs_url}
    role = iam.get_role(RoleName="shop-dev-us-east-1-lambdaRole")["Role"]
    assert config["Role"] == role["Arn"]
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="shop-dev-lambda")
    statements = policy["PolicyDocument"]["Statement"]
    jobs_arn = sqs.get_queue_attributes(QueueUrl=jobs_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    assert {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": jobs_arn} in statements
    assert [v["Version"] for v in lam.list_versions_by_function(
        FunctionName="shop-dev-worker")["Versions"]] == ["$LATEST", "1"]  # fmt: skip
    assert sqs.get_queue_attributes(QueueUrl=jobs_url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "60"  # fmt: skip
    (group,) = aws(server, "logs").describe_log_groups(
        logGroupNamePrefix="/aws/lambda/shop-dev-worker"
    )["logGroups"]
    assert group["retentionInDays"] == 14  # logRetentionInDays, on the function's group

    # httpApi (payload 2.0) and http (1.0) routes
    got = httpx.get(f"{server.url}/http/hello/bob", timeout=30)
    assert got.status_code == 200
    assert got.json() == {"version": "2.0", "params": {"name": "bob"}, "tag": "one"}
    got = httpx.post(f"{server.url}/http/items", content=b"{}", timeout=30)
    assert got.status_code == 200 and got.json()["version"] == "1.0"
    assert lam.get_function_url_config(FunctionName="shop-dev-api")["AuthType"] == "NONE"

    # sqs: the mapping, and a message that reaches the function
    (mapping,) = lam.list_event_source_mappings(FunctionName="shop-dev-worker")[
        "EventSourceMappings"]  # fmt: skip
    assert mapping["BatchSize"] == 5 and mapping["EventSourceArn"] == jobs_arn
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    sqs.send_message(QueueUrl=jobs_url, MessageBody="job-1")
    # s3: only .csv keys
    s3.put_object(Bucket="shop-uploads", Key="skip.txt", Body=b"x")
    s3.put_object(Bucket="shop-uploads", Key="in.csv", Body=b"x")
    # sns
    (alerts,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":shop-alerts")]  # fmt: skip
    sns.publish(TopicArn=alerts, Message="alert-1")
    # eventBridge
    events.put_events(Entries=[{"Source": "shop.orders", "DetailType": "placed",
                                "Detail": json.dumps({"id": 7})}])  # fmt: skip
    seen = events_of(server, "shop-dev-worker", 4)
    bodies = {r.get("body") for e in seen for r in e.get("Records", [])}
    keys = {r["s3"]["object"]["key"] for e in seen for r in e.get("Records", []) if "s3" in r}
    messages = {r["Sns"]["Message"] for e in seen for r in e.get("Records", []) if "Sns" in r}
    sources = {e.get("source") for e in seen}
    assert "job-1" in bodies and keys == {"in.csv"} and "alert-1" in messages
    assert "shop.orders" in sources

    # schedule: a rule with the function as its target and the input
    rules = events.list_rule_names_by_target(TargetArn=config["FunctionArn"])["RuleNames"]
    scheduled = [r for r in rules if events.describe_rule(Name=r).get("ScheduleExpression")]
    (rule,) = scheduled
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "rate(1 hour)"
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert json.loads(target["Input"]) == {"job": "hourly"}

    # resources: SNS → SQS subscription (raw), EventBridge rule → SQS, a bucket
    audit_url = sqs.get_queue_url(QueueName="shop-audit")["QueueUrl"]
    (audit_topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]
                      if t["TopicArn"].endswith(":shop-audit")]  # fmt: skip
    sns.publish(TopicArn=audit_topic, Message="audited")
    events.put_events(Entries=[{"Source": "shop.audit", "DetailType": "x", "Detail": "{}"}])
    received: list[str] = []

    def both() -> bool:
        got = sqs.receive_message(QueueUrl=audit_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        received.extend(m["Body"] for m in got.get("Messages", []))
        # Raw delivery: the message itself; and the event the rule matched.
        return "audited" in received and any(
            json.loads(b).get("source") == "shop.audit" for b in received if b != "audited"
        )

    wait_for(both, 30)
    # S3 tested the bucket's configuration, as it does: s3:TestEvent, before any object.
    assert any(json.loads(b).get("Event") == "s3:TestEvent" for b in received if b != "audited")
    # A bucket of the resources with its own notification configuration, to a queue whose
    # policy the stack set.
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=audit_url, AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    s3.put_object(Bucket="shop-reports", Key="other/x.json", Body=b"{}")
    s3.put_object(Bucket="shop-reports", Key="daily/1.json", Body=b"{}")
    notices: list[str] = []

    def notified() -> bool:
        got = sqs.receive_message(QueueUrl=audit_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in got.get("Messages", []):
            body = json.loads(message["Body"])
            notices.extend(r["s3"]["object"]["key"] for r in body.get("Records", []))
        return bool(notices)

    wait_for(notified, 30)
    assert notices == ["daily/1.json"]
    # A role of the resources: trust, inline and managed policies.
    auditor = iam.get_role(RoleName="shop-auditor")["Role"]
    assert auditor["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    inline = iam.get_role_policy(RoleName="shop-auditor", PolicyName="read-audit")
    assert (
        inline["PolicyDocument"]["Statement"][0]["Resource"]
        == sqs.get_queue_attributes(QueueUrl=audit_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )
    attached = iam.list_attached_role_policies(RoleName="shop-auditor")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSLambdaBasicExecutionRole"]


def test_a_second_deploy_changes_nothing_and_edits_update(
    deployed: tuple[FireboxServer, Path],
) -> None:
    server, service = deployed
    lam = aws(server, "lambda")
    before = lam.get_function(FunctionName="shop-dev-api")["Configuration"]
    plan = firebox(server, service, "deploy", "--plan")
    assert plan.returncode == 0 and "Plan: no changes" in plan.stdout, plan.stdout
    again = firebox(server, service, "deploy")
    assert again.returncode == 0 and "UPDATE_COMPLETE" in again.stdout
    after = lam.get_function(FunctionName="shop-dev-api")["Configuration"]
    assert after["RevisionId"] == before["RevisionId"]
    assert len(lam.list_versions_by_function(FunctionName="shop-dev-api")["Versions"]) == 2

    # A parameter changes every function's environment: updated, and a version each.
    done = firebox(server, service, "deploy", "--param", "tag=two")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "updated ApiLambdaFunction" in done.stdout
    got = httpx.get(f"{server.url}/http/hello/ann", timeout=30).json()
    assert got["tag"] == "two"
    versions = lam.list_versions_by_function(FunctionName="shop-dev-api")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]

    # New code: the next invoke runs it.
    (service / "handler.py").write_text(HANDLER.replace('"tag": os.environ["TAG"]})}',
                                                        '"tag": "edited"})}'))  # fmt: skip
    done = firebox(server, service, "deploy", "--param", "tag=two")
    assert done.returncode == 0, done.stdout + done.stderr
    assert httpx.get(f"{server.url}/http/hello/ann", timeout=30).json()["tag"] == "edited"


def test_removed_functions_and_events_are_deleted(deployed: tuple[FireboxServer, Path]) -> None:
    server, service = deployed
    lam, sns = aws(server, "lambda"), aws(server, "sns")
    trimmed = SERVICE.replace("      - sns: shop-alerts\n", "")
    trimmed = trimmed.replace(
        "  api:\n    handler: handler.handler\n    url: true\n    events:\n"
        "      - httpApi: 'GET /hello/{name}'\n      - http: 'POST items'\n",
        "",
    )
    assert trimmed.count("handler.handler") == 1
    write(service, trimmed)
    plan = firebox(server, service, "deploy", "--plan")
    assert "- ApiLambdaFunction" in plan.stdout and "- SNSTopicShopalerts" in plan.stdout
    done = firebox(server, service, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    with pytest.raises(ClientError) as gone:
        lam.get_function(FunctionName="shop-dev-api")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert not [t for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":shop-alerts")]
    assert httpx.get(f"{server.url}/http/hello/bob", timeout=30).status_code == 404
    assert lam.get_function(FunctionName="shop-dev-worker")


def test_info_and_remove(deployed: tuple[FireboxServer, Path]) -> None:
    server, service = deployed
    info = firebox(server, service, "info")
    assert info.returncode == 0
    assert "shop-dev-api" in info.stdout and "GET /hello/{name}" in info.stdout
    assert f"JobsUrl: {server.url}/000000000000/shop-jobs" in info.stdout
    s3, lam, sqs, iam = (aws(server, s) for s in ("s3", "lambda", "sqs", "iam"))
    sqs.create_queue(QueueName="not-the-stacks")  # made outside the stack: never touched
    s3.put_object(Bucket="shop-reports", Key="r.txt", Body=b"x")
    failed = firebox(server, service, "remove")
    assert failed.returncode == 1
    assert "Reports: BucketNotEmpty" in failed.stderr + failed.stdout
    s3.delete_object(Bucket="shop-reports", Key="r.txt")
    done = firebox(server, service, "remove")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stack shop-dev removed" in done.stdout
    assert lam.list_functions()["Functions"] == []
    assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])] == \
        ["not-the-stacks"]  # fmt: skip
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("shop-")] == []
    missing = firebox(server, service, "info")
    assert missing.returncode == 1 and "Stack with id shop-dev does not exist" in missing.stderr


FAILING = """
service: half
provider:
  name: aws
  runtime: python3.11
functions:
  first:
    handler: handler.handler
    environment:
      TAG: x
resources:
  Resources:
    Good:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: half-good
    Bad:
      Type: AWS::SQS::Queue
      DependsOn: Good
      Properties:
        QueueName: half-bad
        VisibilityTimeout: 99999
"""


def test_a_failure_part_way_is_reported_and_the_next_deploy_repairs_it(
    start_server: Any,
    tmp_path: Path,
) -> None:
    server = start_server("--account-id", "111122223333")
    service = write(tmp_path / "half", FAILING.replace("TAG: x", "TAG: ${aws:accountId}"))
    failed = firebox(server, service, "deploy")
    assert failed.returncode == 1
    assert "Bad: InvalidAttributeValue" in failed.stderr, failed.stdout + failed.stderr
    assert "CREATE_FAILED" in failed.stdout
    sqs = aws(server, "sqs")
    assert sqs.get_queue_url(QueueName="half-good")  # made before the failure, kept
    write(service, FAILING.replace("99999", "120").replace("TAG: x", "TAG: ${aws:accountId}"))
    fixed = firebox(server, service, "deploy")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    environment = aws(server, "lambda").get_function(FunctionName="half-dev-first")[
        "Configuration"
    ]["Environment"]["Variables"]
    assert environment == {"TAG": "111122223333"}  # ${aws:accountId}: the server's
    url = sqs.get_queue_url(QueueName="half-bad")["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])[
        "Attributes"]["VisibilityTimeout"] == "120"  # fmt: skip
    assert "UPDATE_COMPLETE" in fixed.stdout


def test_bad_input_is_refused_and_nothing_changes(server: FireboxServer, tmp_path: Path) -> None:
    service = write(tmp_path / "bad", FAILING.replace("TAG: x", "TAG: ${env:FIREBOX_NOT_SET}"))
    refused = firebox(server, service, "deploy")
    assert refused.returncode == 1
    assert "(serverless.yml line 10: ${env:FIREBOX_NOT_SET})" in refused.stderr
    write(service, FAILING.replace("DependsOn: Good", "DependsOn: Nowhere"))
    refused = firebox(server, service, "deploy")
    assert refused.returncode == 1
    assert "Unresolved resource dependencies [Nowhere]" in refused.stderr
    write(service, FAILING.replace("runtime: python3.11", "runtime: nodejs16.x"))
    refused = firebox(server, service, "deploy")
    assert refused.returncode == 1
    assert (
        "functions.first: runtime nodejs16.x is not available on this firebox server"
        in refused.stderr
    )
    assert httpx.get(f"{server.url}/_firebox/stacks", timeout=10).json()["Stacks"] == []


DEV_SERVICE = """
service: devloop
provider:
  name: aws
  runtime: python3.11
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: 'GET /hello'
"""
DEV_HANDLER = """
import uuid
ENVIRONMENT = uuid.uuid4().hex  # made once per environment, at init
CALLS = 0
def hello(event, context):
    global CALLS
    CALLS += 1
    print("served", CALLS)
    return {"environment": ENVIRONMENT, "calls": CALLS, "version": 1}
"""


def save(path: Path, text: str) -> None:
    """Saves as editors do: the new file whole, renamed over the old (never a half-written
    one for the watcher to see)."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text)
    partial.replace(path)


class Output:
    """A process's output lines, collected as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, after: int = 0) -> int:
        """The index of the first line at or after `after` that holds `text`."""
        return (
            int(
                wait_for(
                    lambda: next(
                        (i + 1 for i, line in enumerate(self.lines) if i >= after and text in line),
                        None,
                    ),
                    60,
                )
            )
            - 1
        )


def test_dev_picks_up_edits_and_keeps_init_once_per_environment(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server()
    service = write(tmp_path / "devloop", DEV_SERVICE, DEV_HANDLER)
    env = {
        **os.environ,
        "FIREBOX_ENDPOINT": server.url,
        "XDG_CACHE_HOME": str(tmp_path / "c"),
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [FIREBOX, "dev"],
        cwd=service,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out = Output(proc)
    try:
        watching = out.wait_for("watching ")
        assert any("CREATE_COMPLETE stack devloop-dev" in line for line in out.lines)

        def get() -> dict[str, Any]:
            answer: dict[str, Any] = httpx.get(f"{server.url}/http/hello", timeout=30).json()
            return answer

        first, second = get(), get()
        assert first["version"] == second["version"] == 1
        assert second["environment"] == first["environment"] and second["calls"] == 2
        out.wait_for("devloop-dev-hello served 2")  # the function's logs, streamed

        save(service / "handler.py", DEV_HANDLER.replace('"version": 1', '"version": 2'))
        updated = out.wait_for("update HelloLambdaFunction", watching)
        edited = get()
        # The warm environment retired: a new one ran init once, then serves again.
        assert edited["version"] == 2 and edited["calls"] == 1
        assert edited["environment"] != first["environment"]
        assert get() == {**edited, "calls": 2}

        save(service / "handler.py", DEV_HANDLER + "\ndef broken(:\n")
        broken = out.wait_for("SyntaxError in handler.py, line 11", updated)
        assert out.wait_for("the previous code keeps serving", broken) == broken + 2
        assert get() == {**edited, "calls": 3}  # still the previous code, still warm

        save(service / "handler.py", DEV_HANDLER.replace('"version": 1', '"version": 3'))
        out.wait_for("update HelloLambdaFunction", broken)
        assert get()["version"] == 3
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, "\n".join(out.lines)


def test_the_stage_option_names_the_stack_and_everything_in_it(
    server: FireboxServer, tmp_path: Path
) -> None:
    service = write(
        tmp_path / "mini",
        "service: mini\nprovider:\n  name: aws\n"
        "  runtime: python3.11\nfunctions:\n  f:\n    handler: handler.handler\n",
    )
    done = firebox(server, service, "deploy", "--stage", "qa")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CREATE_COMPLETE stack mini-qa" in done.stdout
    lam = aws(server, "lambda")
    assert lam.get_function(FunctionName="mini-qa-f")["Configuration"]["Role"].endswith(
        ":role/mini-qa-us-east-1-lambdaRole"
    )
    info = firebox(server, service, "info", "-s", "qa")
    assert info.returncode == 0 and "mini-qa-f" in info.stdout
    assert firebox(server, service, "info").returncode == 1  # stage dev: no such stack
    removed = firebox(server, service, "remove", "-s", "qa")
    assert removed.returncode == 0, removed.stdout + removed.stderr


EXISTING = """
service: adopt
provider:
  name: aws
  runtime: python3.11
functions:
  listener:
    handler: handler.handler
    environment:
      TAG: adopt
    maximumRetryAttempts: 0
    maximumEventAge: 120
    destinations:
      onFailure: ${param:failures}
    events:
      - s3:
          bucket: legacy-uploads
          existing: true
          event: s3:ObjectCreated:*
          rules:
            - prefix: in/
      - sns:
          arn: ${param:topic}
          filterPolicy:
            kind: [wanted]
      - eventBridge:
          schedule: rate(2 hours)
          input:
            tick: true
      - schedule:
          method: scheduler
          rate: cron(30 8 * * ? *)
          timezone: Europe/Paris
          input:
            morning: true
"""


def test_existing_buckets_and_topics_are_used_and_left_as_they_were(
    server: FireboxServer,
    tmp_path: Path,
) -> None:
    s3, sqs, sns, events, lam = (aws(server, s) for s in ("s3", "sqs", "sns", "events", "lambda"))
    # Made outside the stack, before it: a bucket with a notification of its own, a topic.
    s3.create_bucket(Bucket="legacy-uploads")
    queue = sqs.create_queue(QueueName="legacy-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    theirs = {"Id": "theirs", "QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}
    s3.put_bucket_notification_configuration(
        Bucket="legacy-uploads", NotificationConfiguration={"QueueConfigurations": [theirs]}
    )
    topic = sns.create_topic(Name="legacy-topic")["TopicArn"]
    service = write(tmp_path / "adopt", EXISTING)
    done = firebox(
        server, service, "deploy", "--param", f"topic={topic}", "--param", f"failures={queue_arn}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    invoke_config = lam.get_function_event_invoke_config(FunctionName="adopt-dev-listener")
    assert invoke_config["MaximumRetryAttempts"] == 0
    assert invoke_config["MaximumEventAgeInSeconds"] == 120
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    scheduler = aws(server, "scheduler")
    (schedule,) = scheduler.list_schedules()["Schedules"]
    detail = scheduler.get_schedule(Name=schedule["Name"])
    assert detail["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert detail["ScheduleExpression"] == "cron(30 8 * * ? *)"
    assert json.loads(detail["Target"]["Input"]) == {"morning": True}
    assert detail["Target"]["RoleArn"].endswith(":role/adopt-dev-us-east-1-lambdaRole")

    config = s3.get_bucket_notification_configuration(Bucket="legacy-uploads")
    assert [c["Id"] for c in config["QueueConfigurations"]] == ["theirs"]
    (ours,) = config["LambdaFunctionConfigurations"]
    assert ours["Events"] == ["s3:ObjectCreated:*"]
    assert ours["Filter"]["Key"]["FilterRules"] == [{"Name": "Prefix", "Value": "in/"}]
    s3.put_object(Bucket="legacy-uploads", Key="skip/a.txt", Body=b"x")
    s3.put_object(Bucket="legacy-uploads", Key="in/a.txt", Body=b"x")
    sns.publish(
        TopicArn=topic,
        Message="unwanted",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}},
    )
    sns.publish(
        TopicArn=topic,
        Message="wanted",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "wanted"}},
    )
    seen = events_of(server, "adopt-dev-listener", 2)
    keys = [r["s3"]["object"]["key"] for e in seen for r in e.get("Records", []) if "s3" in r]
    messages = [r["Sns"]["Message"] for e in seen for r in e.get("Records", []) if "Sns" in r]
    assert keys == ["in/a.txt"] and messages == ["wanted"]
    function_arn = lam.get_function(FunctionName="adopt-dev-listener")["Configuration"][
        "FunctionArn"
    ]
    (rule,) = events.list_rule_names_by_target(TargetArn=function_arn)["RuleNames"]
    assert rule == "adopt-dev-listener-rule-3"
    assert events.describe_rule(Name=rule)["ScheduleExpression"] == "rate(2 hours)"
    (target,) = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert json.loads(target["Input"]) == {"tick": True}

    removed = firebox(server, service, "remove")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    # What the stack did not make is as it was: the bucket with its own notification, the
    # topic (without the stack's subscription).
    config = s3.get_bucket_notification_configuration(Bucket="legacy-uploads")
    assert [c["Id"] for c in config["QueueConfigurations"]] == ["theirs"]
    assert "LambdaFunctionConfigurations" not in config
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["TopicArn"] == topic
    assert scheduler.list_schedules()["Schedules"] == []


LAYERED = """
service: layered
provider:
  name: aws
  runtime: python3.11
layers:
  common:
    path: common
    description: shared code
    compatibleRuntimes: [python3.11]
functions:
  f:
    handler: handler.handler
    layers:
      - !Ref CommonLambdaLayer
"""
LAYER_HANDLER = """
import os, shared
def handler(event, context):
    return {"shared": shared.VALUE, "packaged": sorted(os.listdir("/var/task"))}
"""


def test_layers_of_the_service_are_published_and_replaced(
    server: FireboxServer, tmp_path: Path
) -> None:
    service = write(tmp_path / "layered", LAYERED, LAYER_HANDLER)
    (service / "common" / "python").mkdir(parents=True)
    (service / "common" / "python" / "shared.py").write_text("VALUE = 'one'\n")
    done = firebox(server, service, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    lam = aws(server, "lambda")

    def invoke() -> dict[str, Any]:
        answer = lam.invoke(FunctionName="layered-dev-f")
        result: dict[str, Any] = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, result
        return result

    first_answer = invoke()
    assert first_answer["shared"] == "one"
    assert "common" not in first_answer["packaged"]  # the layer's files: in the layer only
    (first,) = lam.list_layer_versions(LayerName="common")["LayerVersions"]
    assert first["Description"] == "shared code"
    (service / "common" / "python" / "shared.py").write_text("VALUE = 'two'\n")
    done = firebox(server, service, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert invoke()["shared"] == "two"
    versions = lam.list_layer_versions(LayerName="common")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2]  # the replaced version deleted
    assert (
        lam.get_function(FunctionName="layered-dev-f")["Configuration"]["Layers"][0]["Arn"]
        == versions[0]["LayerVersionArn"]
    )
    assert firebox(server, service, "remove").returncode == 0
    assert lam.list_layer_versions(LayerName="common")["LayerVersions"] == []

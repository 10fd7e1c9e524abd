"""CloudWatch metrics through boto3 against a real server: counts and statistics after known
traffic (n invokes, k errors, throttles forced with reserved concurrency 1) read back with
get_metric_data and get_metric_statistics in each of CloudWatch's three protocols (botocore
picks JSON 1.0; clients forced to Smithy RPC v2 CBOR and to query by a copy of its model
naming only that protocol), PutMetricData, ListMetrics, and the errors of bad requests."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, invoke_json, unique, wait_for

CODE = """
import time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""
PROTOCOLS = ["json", "smithy-rpc-v2-cbor", "query"]


def cloudwatch(server: FireboxServer, protocol: str | None, tmp: Path) -> Any:
    """A CloudWatch client; with `protocol`, one whose model offers only that protocol."""
    session = botocore.session.get_session()
    if protocol is not None:
        model = copy.deepcopy(session.get_service_model("cloudwatch")._service_description)
        model["metadata"]["protocols"] = [protocol]
        model["metadata"]["protocol"] = protocol
        where = tmp / protocol / "cloudwatch" / model["metadata"]["apiVersion"]
        where.mkdir(parents=True)
        (where / "service-2.json").write_text(json.dumps(model))
        session = botocore.session.get_session()
        session.set_config_variable("data_path", str(tmp / protocol))
    client = boto3.Session(botocore_session=session).client(
        "cloudwatch", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    assert client.meta.service_model.resolved_protocol == (protocol or "json")
    return client


@pytest.fixture(scope="module")
def traffic(lam: Any, server: FireboxServer) -> dict[str, Any]:
    """Seven invokes of one function (two fail), and a throttled invoke of another."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    name = create_function(lam, CODE, Timeout=10)
    for n in range(7):
        invoke_json(lam, name, {"fail": n < 2})
    limited = create_function(lam, CODE, Timeout=10)
    lam.put_function_concurrency(FunctionName=limited, ReservedConcurrentExecutions=1)
    invoke_json(lam, limited)  # warm: the slow invoke below starts at once
    slow = threading.Thread(target=invoke_json, args=(lam, limited, {"sleep": 3}))
    slow.start()
    environments = f"{server.url}/_firebox/environments"
    wait_for(lambda: any(e["state"] == "busy" for e in httpx.get(environments).json()[
        "Environments"] if e["function_name"] == limited))  # fmt: skip
    with pytest.raises(ClientError) as throttled:
        invoke_json(lam, limited)
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    slow.join()
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    return {"name": name, "limited": limited, "start": start, "end": end}


def _query(qid: str, name: str, metric: str, stat: str, **more: Any) -> dict[str, Any]:
    dims = [{"Name": "FunctionName", "Value": name}]
    return {"Id": qid, "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric,
            "Dimensions": dims}, "Period": 3600, "Stat": stat}, **more}  # fmt: skip


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_counts_and_statistics_after_known_traffic(
    traffic: dict[str, Any], server: FireboxServer, tmp_path: Path, protocol: str
) -> None:
    cw = cloudwatch(server, protocol, tmp_path)
    name, limited = traffic["name"], traffic["limited"]
    data = cw.get_metric_data(
        MetricDataQueries=[
            _query("inv", name, "Invocations", "Sum"),
            _query("err", name, "Errors", "Sum"),
            _query("p99", name, "Duration", "p99"),
            _query("cnt", name, "Duration", "SampleCount", ReturnData=False),
            _query("thr", limited, "Throttles", "Sum"),
            _query("linv", limited, "Invocations", "Sum", ReturnData=False),
            {"Id": "rate", "Expression": "100 * err / inv", "Label": "Error rate"},
            {"Id": "all", "Expression": "SUM(METRICS('inv')) - SUM(METRICS('linv'))"},
        ],
        StartTime=traffic["start"], EndTime=traffic["end"],
    )  # fmt: skip
    results = {r["Id"]: r for r in data["MetricDataResults"]}

    def total(qid: str) -> float:
        assert results[qid]["StatusCode"] == "Complete"
        return sum(results[qid]["Values"])

    assert total("inv") == 7 and total("err") == 2 and total("thr") == 1
    assert 0 < total("p99") < 10_000
    assert total("rate") == pytest.approx(100 * 2 / 7)
    assert results["rate"]["Label"] == "Error rate"
    assert total("all") == 7  # METRICS('inv'): ids containing inv (linv too)
    assert "cnt" not in results
    assert all(isinstance(t, dt.datetime) for t in results["inv"]["Timestamps"])
    stats = cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": limited}], StartTime=traffic["start"],
        EndTime=traffic["end"], Period=60, Statistics=["Sum", "SampleCount"],
    )  # fmt: skip
    assert sum(p["Sum"] for p in stats["Datapoints"]) == 2  # a throttle is not an invocation
    assert {p["Unit"] for p in stats["Datapoints"]} == {"Count"}
    durations = cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": name}], StartTime=traffic["start"],
        EndTime=traffic["end"], Period=3600, ExtendedStatistics=["p50", "p99"],
        Statistics=["Maximum"],
    )  # fmt: skip
    (point,) = durations["Datapoints"]
    assert point["ExtendedStatistics"]["p50"] <= point["ExtendedStatistics"]["p99"]
    assert point["ExtendedStatistics"]["p99"] <= point["Maximum"]
    assert point["Unit"] == "Milliseconds"
    listed = cw.list_metrics(
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
    )["Metrics"]
    assert {tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed} == {
        ("FunctionName",), ("FunctionName", "Resource")
    }  # fmt: skip


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_metric_data_and_errors(server: FireboxServer, tmp_path: Path, protocol: str) -> None:
    cw = cloudwatch(server, protocol, tmp_path)
    namespace = unique("App")
    now = dt.datetime.now(dt.UTC)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Route", "Value": "/a"}],
         "Values": [10.0, 20.0, 30.0], "Counts": [1, 1, 2], "Unit": "Milliseconds",
         "Timestamp": now},
        {"MetricName": "Orders", "Value": 3, "Unit": "Count"},
    ])  # fmt: skip
    stats = cw.get_metric_statistics(
        Namespace=namespace, MetricName="Latency", Dimensions=[{"Name": "Route", "Value": "/a"}],
        StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5),
        Period=600, Statistics=["SampleCount", "Average"], ExtendedStatistics=["p50"],
    )  # fmt: skip
    (point,) = stats["Datapoints"]
    assert point["SampleCount"] == 4 and point["Average"] == 22.5
    assert point["ExtendedStatistics"] == {"p50": 20.0}
    assert {m["MetricName"] for m in cw.list_metrics(Namespace=namespace)["Metrics"]} == {
        "Latency", "Orders"
    }  # fmt: skip

    def error(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        return str(caught.value.response["Error"]["Code"])

    assert (
        error(
            cw.put_metric_data, Namespace="AWS/Lambda", MetricData=[{"MetricName": "x", "Value": 1}]
        )
        == "InvalidParameterValue"
    )
    assert error(cw.put_metric_data, Namespace=namespace, MetricData=[
        {"MetricName": "x", "Value": 1, "StatisticValues": {
            "SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}
    ]) == "InvalidParameterCombination"  # fmt: skip
    assert error(cw.get_metric_statistics, Namespace=namespace, MetricName="Latency",
                 StartTime=now, EndTime=now + dt.timedelta(days=2), Period=60,
                 Statistics=["Sum"]) == "InvalidParameterCombination"  # fmt: skip
    assert (
        error(
            cw.get_metric_data,
            MetricDataQueries=[{"Id": "e", "Expression": "SUM("}],
            StartTime=now,
            EndTime=now + dt.timedelta(minutes=1),
        )
        == "ValidationError"
    )
    # nothing of the refused calls was kept
    assert {m["MetricName"] for m in cw.list_metrics(Namespace=namespace)["Metrics"]} == {
        "Latency", "Orders"
    }  # fmt: skip


EMF = """
import json, time
def handler(event, context):
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": event["namespace"], "Dimensions": [["Service"], []],
            "Metrics": [{"Name": "ProcessingLatency", "Unit": "Milliseconds"},
                        {"Name": "Orders", "Unit": "Count"}]}]},
        "Service": "checkout", "ProcessingLatency": [100, 200], "Orders": 3,
    }))
    print('{"_aws": "not a directive", "Orders": 99}')
    print("an ordinary line")
    return {}
"""


def test_emf_lines_become_metrics(lam: Any, server: FireboxServer, tmp_path: Path) -> None:
    name = create_function(lam, EMF)
    namespace = unique("Emf")
    invoke_json(lam, name, {"namespace": namespace})
    invoke_json(lam, name, {"namespace": namespace})
    cw = cloudwatch(server, None, tmp_path)
    now = dt.datetime.now(dt.UTC)
    window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=1),
              "Period": 3600}  # fmt: skip
    latency = cw.get_metric_statistics(
        Namespace=namespace, MetricName="ProcessingLatency",
        Dimensions=[{"Name": "Service", "Value": "checkout"}],
        Statistics=["SampleCount", "Average"], ExtendedStatistics=["p50"], **window,
    )["Datapoints"]  # fmt: skip
    assert [(p["SampleCount"], p["Average"], p["Unit"]) for p in latency] == [
        (4, 150.0, "Milliseconds")
    ]  # fmt: skip
    assert latency[0]["ExtendedStatistics"]["p50"] == 100
    orders = cw.get_metric_statistics(Namespace=namespace, MetricName="Orders",
                                      Statistics=["Sum"], **window)["Datapoints"]  # fmt: skip
    assert [p["Sum"] for p in orders] == [6]  # the invalid document added nothing
    listed = cw.list_metrics(Namespace=namespace)["Metrics"]
    assert len(listed) == 4  # two metrics, each with and without the Service dimension


def test_prometheus_exposition(traffic: dict[str, Any], server: FireboxServer) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    name = traffic["name"]

    def sample(family: str, suffix: str = "", **labels: str) -> float:
        found = [s.value for s in families[family].samples
                 if s.name == family + suffix and s.labels == labels]  # fmt: skip
        assert len(found) == 1, (family, labels)
        return float(found[0])

    assert families["firebox_lambda_invocations"].type == "counter"
    assert sample("firebox_lambda_invocations", "_total", function_name=name) == 7
    assert sample("firebox_lambda_errors", "_total", function_name=name) == 2
    assert sample("firebox_lambda_throttles", "_total", function_name=traffic["limited"]) == 1
    assert families["firebox_lambda_duration_milliseconds"].type == "summary"
    assert sample("firebox_lambda_duration_milliseconds", "_count", function_name=name) == 7
    assert families["firebox_lambda_concurrent_executions"].type == "gauge"


def test_async_queue_and_topic_metrics(lam: Any, server: FireboxServer, tmp_path: Path) -> None:
    cw = cloudwatch(server, None, tmp_path)
    keys = {"endpoint_url": server.url, "region_name": "us-east-1",
            "aws_access_key_id": "x", "aws_secret_access_key": "x"}  # fmt: skip
    name = create_function(lam, CODE, Timeout=10)
    for _ in range(2):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    queue = unique("q")
    sqs = boto3.client("sqs", **keys)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 10}
                                                  for i in range(3)])  # fmt: skip
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    topic = unique("t")
    sns = boto3.client("sns", **keys)
    arn = sns.create_topic(Name=topic)["TopicArn"]
    sns.publish(TopicArn=arn, Message="news")
    now = dt.datetime.now(dt.UTC)

    def total(namespace: str, metric: str, dims: dict[str, str], stat: str = "Sum") -> float:
        points = cw.get_metric_statistics(
            Namespace=namespace, MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=1),
            Period=3600, Statistics=[stat],
        )["Datapoints"]  # fmt: skip
        return float(sum(p[stat] for p in points))

    fn = {"FunctionName": name}
    wait_for(lambda: total("AWS/Lambda", "Invocations", fn) == 2)  # the queued events ran
    assert total("AWS/Lambda", "AsyncEventsReceived", fn) == 2
    assert total("AWS/Lambda", "AsyncEventAge", fn, "SampleCount") == 2
    q = {"QueueName": queue}
    assert total("AWS/SQS", "NumberOfMessagesSent", q) == 4
    assert total("AWS/SQS", "NumberOfMessagesReceived", q) == len(got)
    assert total("AWS/SQS", "NumberOfMessagesDeleted", q) == 1
    assert total("AWS/SQS", "SentMessageSize", q, "Maximum") == 10
    assert total("AWS/SNS", "NumberOfMessagesPublished", {"TopicName": topic}) == 1


def test_failed_deliveries_and_mappings_are_counted(
    lam: Any, server: FireboxServer, tmp_path: Path
) -> None:
    cw = cloudwatch(server, None, tmp_path)
    keys = {"endpoint_url": server.url, "region_name": "us-east-1",
            "aws_access_key_id": "x", "aws_secret_access_key": "x"}  # fmt: skip
    sqs = boto3.client("sqs", **keys)

    def queue() -> tuple[str, str]:
        url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    (dlq_url, dlq), (dest_url, dest) = queue(), queue()
    name = create_function(lam, CODE, Timeout=10, DeadLetterConfig={"TargetArn": dlq})
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest}},
    )  # fmt: skip
    sqs.delete_queue(QueueUrl=dlq_url)
    sqs.delete_queue(QueueUrl=dest_url)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    # A mapping that filters one of two messages out.
    source_url, source = queue()
    consumer = create_function(lam, CODE, Timeout=10)
    mapping = lam.create_event_source_mapping(
        FunctionName=consumer, EventSourceArn=source, BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]},
    )["UUID"]  # fmt: skip
    sqs.send_message(QueueUrl=source_url, MessageBody=json.dumps({"keep": True}))
    sqs.send_message(QueueUrl=source_url, MessageBody=json.dumps({"keep": False}))
    now = dt.datetime.now(dt.UTC)

    def total(metric: str, dims: dict[str, str]) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5),
            Period=3600, Statistics=["Sum"],
        )["Datapoints"]  # fmt: skip
        return float(sum(p["Sum"] for p in points))

    fn = {"FunctionName": name}
    wait_for(lambda: total("DestinationDeliveryFailures", fn) == 1)
    wait_for(lambda: total("DeadLetterErrors", fn) == 1)
    assert total("AsyncEventsDropped", fn) == 1
    by_mapping = {"EventSourceMappingUUID": mapping}
    wait_for(lambda: total("FilteredOutEventCount", by_mapping) == 1)
    assert total("PolledEventCount", by_mapping) == 2


def test_provisioned_concurrency_metrics(lam: Any, server: FireboxServer, tmp_path: Path) -> None:
    cw = cloudwatch(server, None, tmp_path)
    name = create_function(lam, CODE, Timeout=10)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live",
                                           ProvisionedConcurrentExecutions=1)  # fmt: skip
    wait_for(lambda: lam.get_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live")["Status"] == "READY")  # fmt: skip
    for _ in range(2):
        invoke_json(lam, name, Qualifier="live")
    now = dt.datetime.now(dt.UTC)
    resource = [{"Name": "FunctionName", "Value": name},
                {"Name": "Resource", "Value": f"{name}:live"}]  # fmt: skip

    def stat(metric: str, statistic: str) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Dimensions=resource,
            StartTime=now - dt.timedelta(minutes=5), EndTime=now + dt.timedelta(minutes=5),
            Period=3600, Statistics=[statistic],
        )["Datapoints"]  # fmt: skip
        return float(sum(p[statistic] for p in points))

    assert stat("ProvisionedConcurrencyInvocations", "Sum") == 2
    assert stat("ProvisionedConcurrencySpilloverInvocations", "Sum") == 0
    assert stat("ProvisionedConcurrencyUtilization", "Maximum") == 1.0
    executed = cw.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=[
        {"Name": "FunctionName", "Value": name}, {"Name": "ExecutedVersion", "Value": version},
    ])["Metrics"]  # fmt: skip
    assert len(executed) == 1

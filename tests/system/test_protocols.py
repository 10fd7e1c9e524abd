"""Every protocol's answer to an operation firebox does not serve: the SDK's typed error in
that protocol's envelope (JSON `__type`, query and S3 XML `<Error>`, RPC v2 CBOR), never a
bare 404 page."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
import cbor2
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import RpcV2CBORParser

from support import FireboxServer


def client(server: FireboxServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}))  # fmt: skip


def refused(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    response = exc.value.response
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"].get("Message", ""))  # fmt: skip


def test_json_services_firebox_does_not_serve(server: FireboxServer) -> None:
    status, code, message = refused(client(server, "dynamodb").list_tables)
    assert (status, code) == (400, "UnknownOperationException")
    assert "DynamoDB_20120810.ListTables" in message


def test_query_services_firebox_does_not_serve(server: FireboxServer) -> None:
    status, code, message = refused(client(server, "ses").list_identities)
    assert (status, code) == (400, "InvalidAction") and "ListIdentities" in message
    status, code, message = refused(lambda: client(server, "sts").get_session_token())
    assert (status, code) == (400, "InvalidAction") and "GetSessionToken" in message


def test_rest_xml_answers_in_s3s_error_document(server: FireboxServer) -> None:
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="protocols-photos")
    status, code, _ = refused(lambda: s3.get_bucket_acl(Bucket="protocols-photos"))
    assert (status, code) == (501, "NotImplemented")
    # HEAD answers carry no body, as S3's: the SDK names the error by its status.
    assert refused(lambda: s3.head_bucket(Bucket="protocols-missing"))[:2] == (404, "404")
    # another REST-XML service firebox does not serve: S3's envelope all the same
    status, code, _ = refused(client(server, "route53").list_hosted_zones)
    assert (status, code) == (501, "NotImplemented")


def test_rpc_v2_cbor_answers_in_cbor(server: FireboxServer) -> None:
    """CloudWatch's newest protocol (botocore 1.44 still picks JSON for it by default): an
    operation firebox does not serve (alarms) is refused in CBOR, and in JSON."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    response = httpx.post(
        f"{server.url}/service/GraniteServiceVersion20100801/operation/DescribeAlarms",
        content=cbor2.dumps({}),
        headers={"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor",
                 "accept": "application/cbor"},
    )  # fmt: skip
    assert response.headers["content-type"] == "application/cbor"
    parsed = RpcV2CBORParser().parse(
        {"status_code": response.status_code, "headers": dict(response.headers),
         "body": response.content},
        model.operation_model("DescribeAlarms").output_shape,
    )  # fmt: skip
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert "DescribeAlarms" in parsed["Error"]["Message"]
    status, code, _ = refused(client(server, "cloudwatch").describe_alarms)
    assert (status, code) == (400, "UnknownOperationException")


def test_lambda_paths_firebox_does_not_serve(server: FireboxServer) -> None:
    status, code, _ = refused(client(server, "lambda").list_code_signing_configs)
    assert (status, code) == (404, "UnknownOperationException")

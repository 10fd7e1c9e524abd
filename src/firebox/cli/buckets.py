"""`firebox buckets`: every bucket at a glance (objects, size, notifications)."""

from __future__ import annotations

from typing import Any

import click

from firebox.cli.client import CliError, endpoint_option


def s3_client(endpoint: str) -> Any:
    """boto3's S3 client for the server: configured credentials if any (a server in sigv4
    mode needs them), else open mode's placeholder ones."""
    import boto3  # type: ignore[import-untyped]
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    keys: dict[str, str] = {}
    if credentials is None:
        keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x"}
    region = session.get_config_variable("region") or "us-east-1"
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
                        config=Config(retries={"max_attempts": 0},
                                      s3={"addressing_style": "path"}), **keys)  # fmt: skip


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@click.command(name="buckets")
@endpoint_option
def buckets(endpoint: str) -> None:
    """Every bucket: its objects, their total size, and where its notifications go."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = s3_client(endpoint)
    try:
        listed = s3.list_buckets()["Buckets"]
        click.echo(f"{'BUCKET':<40} {'OBJECTS':>8} {'SIZE':>10}  {'CREATED':<20} NOTIFIES")
        for bucket in listed:
            name = bucket["Name"]
            count = size = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    count += 1
                    size += obj["Size"]
            config = s3.get_bucket_notification_configuration(Bucket=name)
            targets = [c.get("LambdaFunctionArn") or c.get("QueueArn") or c.get("TopicArn", "")
                       for key in ("LambdaFunctionConfigurations", "QueueConfigurations",
                                   "TopicConfigurations") for c in config.get(key, [])]  # fmt: skip
            notifies = ", ".join(sorted({t.rsplit(":", 1)[-1] for t in targets})) or "-"
            created = bucket["CreationDate"].strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{name:<40} {count:>8} {_size(size):>10}  {created:<20} {notifies}")
    except ClientError as exc:
        error = exc.response["Error"]
        raise CliError(f"{error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise CliError(f"cannot reach firebox at {endpoint}: {exc}") from None

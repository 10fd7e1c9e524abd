"""`firebox queues` and `firebox queue …`: SQS queues at a glance, and the everyday chores."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from firebox.cli.client import ApiClient, CliError, endpoint_option


def _url(client: ApiClient, name: str) -> str:
    url: str = client.sqs("GetQueueUrl", {"QueueName": name})["QueueUrl"]
    return url


def _attributes(client: ApiClient, url: str) -> dict[str, str]:
    got: dict[str, str] = client.sqs("GetQueueAttributes",
                                     {"QueueUrl": url, "AttributeNames": ["All"]}).get(
        "Attributes", {})  # fmt: skip
    return got


@click.command(name="queues")
@endpoint_option
def queues(endpoint: str) -> None:
    """Every queue: messages visible, in flight and delayed, and its dead-letter queue."""
    client = ApiClient(endpoint)
    urls = client.sqs("ListQueues", {}).get("QueueUrls", [])
    click.echo(f"{'QUEUE':<40} {'VISIBLE':>8} {'IN FLIGHT':>9} {'DELAYED':>8}  DEAD-LETTER QUEUE")
    for url in urls:
        a = _attributes(client, url)
        dlq = ""
        if a.get("RedrivePolicy"):
            target = json.loads(a["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]
            depth = _attributes(client, _url(client, target)).get("ApproximateNumberOfMessages")
            dlq = f"{target} ({depth} messages)"
        click.echo(f"{url.rsplit('/', 1)[-1]:<40} {a.get('ApproximateNumberOfMessages', '?'):>8} "
                   f"{a.get('ApproximateNumberOfMessagesNotVisible', '?'):>9} "
                   f"{a.get('ApproximateNumberOfMessagesDelayed', '?'):>8}  {dlq}")  # fmt: skip


@click.group()
def queue() -> None:
    """Send to, receive from, purge and redrive SQS queues."""


@queue.command()
@click.argument("name")
@click.option("--attribute", "-a", "attributes", multiple=True, metavar="NAME=VALUE",
              help="A queue attribute (VisibilityTimeout=60, …); repeatable.")  # fmt: skip
@endpoint_option
def create(name: str, attributes: tuple[str, ...], endpoint: str) -> None:
    """Create the queue NAME (a name ending in .fifo makes a FIFO queue); prints its URL."""
    parsed = {}
    for item in attributes:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--attribute")
        parsed[key] = value
    if name.endswith(".fifo"):
        parsed.setdefault("FifoQueue", "true")
    client = ApiClient(endpoint)
    click.echo(client.sqs("CreateQueue", {"QueueName": name, "Attributes": parsed})["QueueUrl"])


@queue.command()
@click.argument("name")
@click.argument("body")
@click.option("--group", help="MessageGroupId (FIFO queues).")
@click.option("--delay", type=click.IntRange(0, 900), help="DelaySeconds.")
@endpoint_option
def send(name: str, body: str, group: str | None, delay: int | None, endpoint: str) -> None:
    """Send BODY to the queue NAME; prints the message id."""
    client = ApiClient(endpoint)
    request: dict[str, Any] = {"QueueUrl": _url(client, name), "MessageBody": body}
    if group:
        request["MessageGroupId"] = group
    if delay is not None:
        request["DelaySeconds"] = delay
    click.echo(client.sqs("SendMessage", request)["MessageId"])


@queue.command()
@click.argument("name")
@click.option("--max", "limit", default=10, show_default=True, type=click.IntRange(1, 10))
@click.option("--wait", default=0, show_default=True, type=click.IntRange(0, 20),
              help="Seconds to wait for a message (long polling).")  # fmt: skip
@click.option("--delete", is_flag=True, help="Delete what was received.")
@endpoint_option
def receive(name: str, limit: int, wait: int, delete: bool, endpoint: str) -> None:
    """Receive up to --max messages from NAME, one JSON object per line."""
    client = ApiClient(endpoint)
    url = _url(client, name)
    request = {"QueueUrl": url, "MaxNumberOfMessages": limit, "WaitTimeSeconds": wait,
               "AttributeNames": ["All"], "MessageAttributeNames": ["All"]}  # fmt: skip
    got = client.sqs("ReceiveMessage", request).get("Messages", [])
    for message in got:
        click.echo(json.dumps({k: message[k] for k in ("MessageId", "Body", "Attributes")
                               if k in message}))  # fmt: skip
        if delete:
            client.sqs("DeleteMessage", {"QueueUrl": url,
                                         "ReceiptHandle": message["ReceiptHandle"]})  # fmt: skip


@queue.command()
@click.argument("name")
@endpoint_option
def purge(name: str, endpoint: str) -> None:
    """Delete every message of NAME."""
    client = ApiClient(endpoint)
    client.sqs("PurgeQueue", {"QueueUrl": _url(client, name)})
    click.echo(f"purged {name}")


@queue.command()
@click.argument("dead_letter_queue")
@click.option("--to", "destination", help="Another queue than each message's own source.")
@endpoint_option
def redrive(dead_letter_queue: str, destination: str | None, endpoint: str) -> None:
    """Move the messages of DEAD_LETTER_QUEUE back to where they came from."""
    client = ApiClient(endpoint)
    source = _attributes(client, _url(client, dead_letter_queue))["QueueArn"]
    request = {"SourceArn": source}
    if destination:
        request["DestinationArn"] = _attributes(client, _url(client, destination))["QueueArn"]
    client.sqs("StartMessageMoveTask", request)
    for _ in range(600):
        task = client.sqs("ListMessageMoveTasks", {"SourceArn": source})["Results"][0]
        if task["Status"] != "RUNNING":
            break
        time.sleep(0.1)
    if task["Status"] != "COMPLETED":
        raise CliError(f"redrive {task['Status'].lower()}: {task.get('FailureReason', '')}")
    click.echo(f"moved {task['ApproximateNumberOfMessagesMoved']} messages from "
               f"{dead_letter_queue}")  # fmt: skip

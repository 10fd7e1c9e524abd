"""The queue service: API throughput against moto's server, and functions fed by a queue.

1. Queue API throughput with boto3, 4 client threads, firebox and moto's server (`moto[server]`,
   the baseline peer) in the same run: SendMessageBatch of 10, then ReceiveMessage(10) +
   DeleteMessageBatch until the queue is empty; messages per second.
2. Through an event source mapping (firebox only: moto runs no pollers without Docker): a
   queue of 2,000 messages drained by a no-op function with BatchSize 10 (messages per
   second), and on an idle queue the time from SendMessage returning to the handler starting
   (p50 / p99 of 200, one at a time; the handler reads the wall clock, as the sender does).

    .venv/bin/python bench/sqs_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from invoke_bench import Server, commit, machine, make_zip, percentile, write_section

CLIENTS = 4


def client(port: int, service: str) -> Any:
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}",
                        region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0},
                                      max_pool_connections=16))  # fmt: skip


class Moto:
    """moto's server on a free port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        moto = str(Path(sys.executable).with_name("moto_server"))
        self.proc = subprocess.Popen([moto, "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def throughput(port: int, batches_per_client: int) -> tuple[float, float, int]:
    """(sent/s, received+deleted/s, messages received twice) with CLIENTS threads, each with
    its own boto3 client."""
    url = client(port, "sqs").create_queue(QueueName=f"bench-{time.time_ns()}")["QueueUrl"]
    clients = [client(port, "sqs") for _ in range(CLIENTS)]

    def send(index: int, c: Any) -> None:
        for b in range(batches_per_client):
            entries = [{"Id": str(i), "MessageBody": f"message {index}-{b}-{i}"}
                       for i in range(10)]  # fmt: skip
            c.send_message_batch(QueueUrl=url, Entries=entries)

    received = [0] * CLIENTS
    bodies: set[str] = set()

    def receive(index: int, c: Any) -> None:
        empty = 0
        while empty < 2:
            got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                empty += 1
                continue
            empty = 0
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(got)]  # fmt: skip
            c.delete_message_batch(QueueUrl=url, Entries=entries)
            received[index] += len(got)
            bodies.update(m["Body"] for m in got)

    def timed(target: Any, args: list[tuple[Any, ...]]) -> float:
        threads = [threading.Thread(target=target, args=a) for a in args]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    total = CLIENTS * batches_per_client * 10
    send_s = timed(send, list(enumerate(clients)))
    receive_s = timed(receive, list(enumerate(clients)))
    assert len(bodies) == total, (len(bodies), total)  # every message, once at least
    return total / send_s, total / receive_s, sum(received) - total


NOOP = "def handler(event, context):\n    return {}\n"
STAMP = (
    "import json, os, time, boto3\n"
    "sqs = boto3.client('sqs')\n"
    "URL = None\n"
    "def handler(event, context):\n"
    "    started = time.time()\n"
    "    global URL\n"
    "    URL = URL or sqs.get_queue_url(QueueName=os.environ['OUT'])['QueueUrl']\n"
    "    for r in event['Records']:\n"
    "        sqs.send_message(QueueUrl=URL, MessageBody=json.dumps(\n"
    "            {'sent': float(r['body']), 'started': started}))\n"
    "    return {}\n"
)


def tagged_stamp(tag: str) -> str:
    """A stamp handler that reports when it started with a tag taken from its event (`tag`:
    a Python expression of `event`), to the queue its OUT names."""
    return (
        "import json, os, time, boto3\n"
        "sqs = boto3.client('sqs')\n"
        "URL = None\n"
        "def handler(event, context):\n"
        "    started = time.time()\n"
        "    global URL\n"
        "    URL = URL or sqs.get_queue_url(QueueName=os.environ['OUT'])['QueueUrl']\n"
        f"    body = json.dumps({{'tag': {tag}, 'started': started}})\n"
        "    sqs.send_message(QueueUrl=URL, MessageBody=body)\n"
    )


def arn(sqs: Any, url: str) -> str:
    value: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    return value


def drain(port: int, messages: int) -> float:
    """Messages per second a no-op function drains from a full queue (BatchSize 10)."""
    sqs, lam = client(port, "sqs"), client(port, "lambda")
    url = sqs.create_queue(QueueName="drain")["QueueUrl"]
    for _ in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "x"} for i in range(10)])  # fmt: skip
    lam.create_function(FunctionName="noop", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench",
                        Code={"ZipFile": make_zip(NOOP)})  # fmt: skip
    lam.invoke(FunctionName="noop")  # warm, as a deployed function would be
    started = time.perf_counter()
    lam.create_event_source_mapping(FunctionName="noop", EventSourceArn=arn(sqs, url),
                                    BatchSize=10)  # fmt: skip
    while True:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if (
            a["ApproximateNumberOfMessages"] == "0"
            and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        ):
            break
        time.sleep(0.01)
    return messages / (time.perf_counter() - started)


def stamp_function(lam: Any, code: str, out_queue: str) -> str:
    """A function `stamp` running `code`, which reports to the queue `out_queue` (its OUT)
    when its handler started; returns its ARN."""
    lam.create_function(FunctionName="stamp", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench", Timeout=10,
                        Environment={"Variables": {"OUT": out_queue}},
                        Code={"ZipFile": make_zip(code)})  # fmt: skip
    found: str = lam.get_function(FunctionName="stamp")["Configuration"]["FunctionArn"]
    return found


def handler_starts(sqs: Any, out: str, count: int, trigger: Callable[[int], float]) -> list[float]:
    """Milliseconds from each trigger to the stamp handler starting, one at a time on an idle
    function: `trigger(i)` causes the i-th invoke and returns the moment measured from; the
    handler reports `started` (and the `tag` it was given, if any) to the queue `out`."""
    samples = []
    for i in range(count + 5):
        since = trigger(i)
        got = sqs.receive_message(QueueUrl=out, WaitTimeSeconds=20)["Messages"][0]
        sqs.delete_message(QueueUrl=out, ReceiptHandle=got["ReceiptHandle"])
        report = json.loads(got["Body"])
        assert report.get("tag", str(i)) == str(i), report  # the invoke of this trigger
        if i >= 5:  # the first few warm the environment
            samples.append((report["started"] - since) * 1000)
        time.sleep(0.05)  # idle again before the next one
    return samples


def latency(port: int, count: int) -> list[float]:
    """Milliseconds from SendMessage returning to the handler starting, idle queue."""
    sqs, lam = client(port, "sqs"), client(port, "lambda")
    url = sqs.create_queue(QueueName="latency")["QueueUrl"]
    out = sqs.create_queue(QueueName="latency-out")["QueueUrl"]
    stamp_function(lam, STAMP, "latency-out")
    lam.create_event_source_mapping(FunctionName="stamp", EventSourceArn=arn(sqs, url),
                                    BatchSize=1)  # fmt: skip

    def send(i: int) -> float:
        sent = time.time()
        sqs.send_message(QueueUrl=url, MessageBody=repr(sent))
        return sent

    return handler_starts(sqs, out, count, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    # moto handles a few dozen messages a second: 1,000 per run keeps its runs to a minute.
    batches, messages, count = (10, 500, 40) if options.quick else (25, 2000, 200)
    firebox, moto = Server(), Moto()
    try:
        rows = []
        for name, port in (("firebox", firebox.port), ("moto (baseline)", moto.port)):
            results = [throughput(port, batches) for _ in range(3)]
            sends = statistics.median(r[0] for r in results)
            receives = statistics.median(r[1] for r in results)
            twice = sum(r[2] for r in results)
            rows.append(f"| {name} | {sends:,.0f} | {receives:,.0f} | {twice} |")
        drained = drain(firebox.port, messages)
        samples = latency(firebox.port, count)
    finally:
        firebox.stop()
        moto.stop()
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {CLIENTS} "
        f"boto3 clients in threads, {CLIENTS * batches * 10:,} messages per run, median of 3 "
        "runs.\n\n| server | SendMessageBatch (10), messages/s | ReceiveMessage (10) + "
        "DeleteMessageBatch, messages/s | received twice (3 runs) |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nThrough an event source mapping: {messages:,} queued messages drained by a "
        f"no-op function (BatchSize 10) at {drained:,.0f} messages/s; on an idle queue, "
        f"SendMessage returning → handler starting p50 {statistics.median(samples):.1f} ms, "
        f"p99 {percentile(samples, 99):.1f} ms ({len(samples)} messages, one at a time). "
        "moto runs no event source mappings without Docker: no baseline for these."
    )
    print(text)
    if not options.no_write:
        write_section("sqs-bench", text)


if __name__ == "__main__":
    main()

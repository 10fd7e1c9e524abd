"""The object store: small-object throughput and large-object bandwidth against moto's server,
and uploads triggering functions.

1. PUT, then GET, of 4 KB objects with boto3, 4 client threads, firebox and moto's server
   (`moto[server]`, the baseline peer) in the same run: objects per second (median of 3 runs)
   and each request's latency (p50 / p99 over the runs).
2. One 100 MB object up (boto3's upload_file: 8 MB parts, 10 threads) and down
   (download_file): MB/s, median of 3, on both servers.
3. Notifications (firebox only: moto runs no functions without Docker): on an idle bucket,
   the time from PutObject's reply to the notified handler starting, p50 / p99 of 200 uploads
   one at a time (the handler reads the wall clock, as the uploader does).

    .venv/bin/python bench/s3_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from invoke_bench import Server, commit, machine, percentile, write_section
from sqs_bench import CLIENTS, Moto, client, handler_starts, stamp_function

MB = 1024 * 1024


def small_objects(port: int, per_client: int) -> tuple[float, float, list[float], list[float]]:
    """(PUTs/s, GETs/s, PUT latencies ms, GET latencies ms) of 4 KB objects."""
    bucket = f"bench-{time.time_ns()}"
    client(port, "s3").create_bucket(Bucket=bucket)
    clients = [client(port, "s3") for _ in range(CLIENTS)]
    body = os.urandom(4096)
    put_ms: list[float] = []
    get_ms: list[float] = []

    def put(index: int, s3: Any) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            s3.put_object(Bucket=bucket, Key=f"{index}/{i}", Body=body)
            put_ms.append((time.perf_counter() - started) * 1000)

    def get(index: int, s3: Any) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            got = s3.get_object(Bucket=bucket, Key=f"{index}/{i}")["Body"].read()
            get_ms.append((time.perf_counter() - started) * 1000)
            assert got == body

    def timed(target: Any) -> float:
        threads = [threading.Thread(target=target, args=a) for a in enumerate(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    total = CLIENTS * per_client
    return total / timed(put), total / timed(get), put_ms, get_ms


def large_object(port: int, path: Path) -> tuple[float, float]:
    """MB/s of one object up and down through boto3's managed transfers."""
    s3 = client(port, "s3")
    bucket = f"big-{time.time_ns()}"
    s3.create_bucket(Bucket=bucket)
    config = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB,
                            max_concurrency=10)  # fmt: skip
    size = path.stat().st_size / MB
    started = time.perf_counter()
    s3.upload_file(str(path), bucket, "big", Config=config)
    up = size / (time.perf_counter() - started)
    target = path.with_suffix(".back")
    started = time.perf_counter()
    s3.download_file(bucket, "big", str(target), Config=config)
    down = size / (time.perf_counter() - started)
    assert target.stat().st_size == path.stat().st_size
    target.unlink()
    s3.delete_object(Bucket=bucket, Key="big")
    return up, down


STAMP = (
    "import json, os, time, boto3\n"
    "from urllib.parse import unquote_plus\n"
    "sqs = boto3.client('sqs')\n"
    "URL = None\n"
    "def handler(event, context):\n"
    "    started = time.time()\n"
    "    global URL\n"
    "    URL = URL or sqs.get_queue_url(QueueName=os.environ['OUT'])['QueueUrl']\n"
    "    tag = unquote_plus(event['Records'][0]['s3']['object']['key'])\n"
    "    sqs.send_message(QueueUrl=URL, MessageBody=json.dumps({'tag': tag, 'started': started}))\n"
)


def notification_latency(port: int, count: int) -> list[float]:
    """Milliseconds from PutObject's reply to the notified handler starting."""
    s3, sqs, lam = client(port, "s3"), client(port, "sqs"), client(port, "lambda")
    s3.create_bucket(Bucket="uploads")
    out = sqs.create_queue(QueueName="started")["QueueUrl"]
    arn = stamp_function(lam, STAMP, "started")
    lam.add_permission(
        FunctionName="stamp",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::uploads",
    )
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn,
                                          "Events": ["s3:ObjectCreated:*"]}]})  # fmt: skip

    def upload(i: int) -> float:
        s3.put_object(Bucket="uploads", Key=str(i), Body=b"x")
        return time.time()  # from the reply

    return handler_starts(sqs, out, count, upload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    per_client, big_mb, count = (100, 20, 40) if options.quick else (500, 100, 200)
    scratch = Path(tempfile.mkdtemp(prefix="s3-bench-"))
    big = scratch / "big.bin"
    big.write_bytes(os.urandom(big_mb * MB))
    firebox, moto = Server(), Moto()
    try:
        rows, bandwidth = [], []
        for name, port in (("firebox", firebox.port), ("moto (baseline)", moto.port)):
            runs = [small_objects(port, per_client) for _ in range(3)]
            puts = [ms for r in runs for ms in r[2]]
            gets = [ms for r in runs for ms in r[3]]
            rows.append(
                f"| {name} | {statistics.median(r[0] for r in runs):,.0f} | "
                f"{statistics.median(puts):.2f} / {percentile(puts, 99):.2f} | "
                f"{statistics.median(r[1] for r in runs):,.0f} | "
                f"{statistics.median(gets):.2f} / {percentile(gets, 99):.2f} |"
            )
            transfers = [large_object(port, big) for _ in range(3)]
            bandwidth.append(
                f"| {name} | {statistics.median(t[0] for t in transfers):,.0f} | "
                f"{statistics.median(t[1] for t in transfers):,.0f} |"
            )
        samples = notification_latency(firebox.port, count)
    finally:
        firebox.stop()
        moto.stop()
        big.unlink()
        scratch.rmdir()
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {CLIENTS} "
        f"boto3 clients in threads, {CLIENTS * per_client:,} objects of 4 KB per run, median of "
        "3 runs; latencies over all requests of the 3 runs.\n\n"
        "| server | PUT objects/s | PUT ms p50 / p99 | GET objects/s | GET ms p50 / p99 |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nOne {big_mb} MB object through boto3's managed transfers (8 MB parts, 10 "
        "threads), median of 3:\n\n| server | upload MB/s | download MB/s |\n|---|---|---|\n"
        + "\n".join(bandwidth)
        + f"\n\nNotifications: PutObject's reply → the notified handler starting p50 "
        f"{statistics.median(samples):.1f} ms, p99 {percentile(samples, 99):.1f} ms "
        f"({len(samples)} uploads, one at a time, through the durable Event queue). moto runs "
        "no functions without Docker: no baseline for this."
    )
    print(text)
    if not options.no_write:
        write_section("s3-bench", text)


if __name__ == "__main__":
    main()

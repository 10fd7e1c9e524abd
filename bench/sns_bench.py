"""Topics: fan-out against moto's server, and Publish to a notified handler.

1. Fan-out: a topic with 10 SQS subscriptions; 4 boto3 client threads publish 1,000
   messages; publishes per second, and deliveries per second until all 10,000 are in their
   queues (median of 3 runs), on firebox and moto's server (`moto[server]`, the baseline).
2. Publish → handler (firebox only: moto runs no functions without Docker): on an idle topic,
   the time from Publish's reply to the subscribed function's handler starting, p50 / p99 of
   200 publishes one at a time (the handler reads the wall clock, as the publisher does).

    .venv/bin/python bench/sns_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import threading
import time
from typing import Any

from invoke_bench import Server, commit, machine, percentile, write_section
from sqs_bench import CLIENTS, Moto, arn, client, handler_starts, stamp_function, tagged_stamp

SUBSCRIBERS = 10


def fan_out(port: int, messages: int) -> tuple[float, float]:
    """(publishes/s, deliveries/s) to SUBSCRIBERS queues."""
    sns, sqs = client(port, "sns"), client(port, "sqs")
    run = time.time_ns()
    topic = sns.create_topic(Name=f"fan-{run}")["TopicArn"]
    urls = []
    for i in range(SUBSCRIBERS):
        url = sqs.create_queue(QueueName=f"fan-{run}-{i}")["QueueUrl"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn(sqs, url),
                      Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        urls.append(url)
    clients = [client(port, "sns") for _ in range(CLIENTS)]
    per_client = messages // CLIENTS

    def publish(c: Any) -> None:
        for i in range(per_client):
            c.publish(TopicArn=topic, Message=f"message {i}")

    threads = [threading.Thread(target=publish, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    published = time.perf_counter() - started
    total = per_client * CLIENTS * SUBSCRIBERS
    while True:
        counts = [int(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
            for u in urls]  # fmt: skip
        if sum(counts) >= total:
            break
        time.sleep(0.01)
    delivered = time.perf_counter() - started
    return per_client * CLIENTS / published, total / delivered


STAMP = tagged_stamp("event['Records'][0]['Sns']['Message']")


def latency(port: int, count: int) -> list[float]:
    """Milliseconds from Publish's reply to the subscribed handler starting."""
    sns, sqs, lam = client(port, "sns"), client(port, "sqs"), client(port, "lambda")
    topic = sns.create_topic(Name="latency")["TopicArn"]
    out = sqs.create_queue(QueueName="started")["QueueUrl"]
    stamp = stamp_function(lam, STAMP, "started")
    lam.add_permission(
        FunctionName="stamp",
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn=topic,
    )
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=stamp)

    def publish(i: int) -> float:
        sns.publish(TopicArn=topic, Message=str(i))
        return time.time()  # from the reply

    return handler_starts(sqs, out, count, publish)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    messages, count = (200, 40) if options.quick else (1000, 200)
    firebox, moto = Server(), Moto()
    try:
        rows = []
        for name, port in (("firebox", firebox.port), ("moto (baseline)", moto.port)):
            runs = [fan_out(port, messages) for _ in range(3)]
            rows.append(f"| {name} | {statistics.median(r[0] for r in runs):,.0f} | "
                        f"{statistics.median(r[1] for r in runs):,.0f} |")  # fmt: skip
        samples = latency(firebox.port, count)
    finally:
        firebox.stop()
        moto.stop()
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {CLIENTS} "
        f"boto3 clients in threads publish {messages:,} messages to a topic with "
        f"{SUBSCRIBERS} SQS subscriptions (raw delivery), median of 3 runs.\n\n"
        "| server | Publish, messages/s | delivered into the queues, messages/s |\n"
        "|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nPublish's reply → the subscribed function's handler starting p50 "
        f"{statistics.median(samples):.1f} ms, p99 {percentile(samples, 99):.1f} ms "
        f"({len(samples)} publishes, one at a time, through the durable outbox and Event "
        "queue). moto runs no functions without Docker: no baseline for this."
    )
    print(text)
    if not options.no_write:
        write_section("sns-bench", text)


if __name__ == "__main__":
    main()

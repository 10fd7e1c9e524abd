"""EventBridge and the Scheduler: PutEvents against moto's server, event → handler latency,
and the Scheduler's firing accuracy under load.

1. PutEvents: 4 boto3 client threads put 1,000 events (one per call) on the default bus,
   where a rule matches them to an SQS queue; calls per second, median of 3 runs, on firebox
   and moto's server (`moto[server]`, the baseline).
2. PutEvents → handler (firebox only: moto runs no functions without Docker): the time from
   PutEvents' reply to the rule's target function's handler starting, p50 / p99 of 200 events
   one at a time.
3. Firing accuracy (firebox only: moto stores schedules but never fires them): 300 one-time
   schedules at second granularity (`at(...)`, 10 per second over 30 seconds) sending to an
   SQS queue, while 4 threads keep putting events; lateness = the message's SentTimestamp
   minus its scheduled second, p50 / p99.

    .venv/bin/python bench/events_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import threading
import time
from typing import Any

from invoke_bench import Server, commit, machine, percentile, write_section
from sqs_bench import CLIENTS, Moto, arn, client, handler_starts, stamp_function, tagged_stamp

ROLE = "arn:aws:iam::000000000000:role/bench"


def queue_arn(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, arn(sqs, url)


def put_rate(port: int, count: int) -> float:
    """PutEvents calls per second (one event each) matched to a queue."""
    events, sqs = client(port, "events"), client(port, "sqs")
    run = time.time_ns()
    _, matched = queue_arn(sqs, f"matched-{run}")
    events.put_rule(Name=f"all-{run}", EventPattern=json.dumps({"source": [f"bench.{run}"]}))
    events.put_targets(Rule=f"all-{run}", Targets=[{"Id": "q", "Arn": matched}])
    clients = [client(port, "events") for _ in range(CLIENTS)]
    per_client = count // CLIENTS

    def put(c: Any) -> None:
        for i in range(per_client):
            c.put_events(Entries=[{"Source": f"bench.{run}", "DetailType": "tick",
                                   "Detail": json.dumps({"i": i})}])  # fmt: skip

    threads = [threading.Thread(target=put, args=(c,)) for c in clients]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_client * CLIENTS / (time.perf_counter() - started)


STAMP = tagged_stamp("str(event['detail']['i'])")


def latency(port: int, count: int) -> list[float]:
    """Milliseconds from PutEvents' reply to the rule's target handler starting."""
    events, sqs, lam = client(port, "events"), client(port, "sqs"), client(port, "lambda")
    out = sqs.create_queue(QueueName="started")["QueueUrl"]
    stamp = stamp_function(lam, STAMP, "started")
    events.put_rule(Name="to-stamp", EventPattern=json.dumps({"source": ["latency"]}))
    events.put_targets(Rule="to-stamp", Targets=[{"Id": "fn", "Arn": stamp}])

    def put(i: int) -> float:
        events.put_events(Entries=[{"Source": "latency", "DetailType": "t",
                                    "Detail": json.dumps({"i": i})}])  # fmt: skip
        return time.time()

    return handler_starts(sqs, out, count, put)


def firing(port: int, count: int) -> list[float]:
    """Milliseconds each one-time schedule's message was sent after its second."""
    scheduler, sqs = client(port, "scheduler"), client(port, "sqs")
    url, fired = queue_arn(sqs, "fired")
    start = int(time.time()) + 15  # room to create them all first
    due: dict[str, float] = {}
    for i in range(count):
        second = start + i // 10
        wall = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        target = {"Arn": fired, "RoleArn": ROLE, "Input": str(i)}
        scheduler.create_schedule(Name=f"s{i}", ScheduleExpression=f"at({wall})",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=target)  # fmt: skip
        due[str(i)] = second
    stop = threading.Event()

    def load() -> None:  # events keep coming while the schedules fire
        c = client(port, "events")
        while not stop.is_set():
            c.put_events(Entries=[{"Source": "load", "DetailType": "t", "Detail": "{}"}])

    events = client(port, "events")
    _, sink = queue_arn(sqs, "load")
    events.put_rule(Name="load", EventPattern=json.dumps({"source": ["load"]}))
    events.put_targets(Rule="load", Targets=[{"Id": "q", "Arn": sink}])
    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    lateness: list[float] = []
    try:
        while len(lateness) < count:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=20,
                                         AttributeNames=["SentTimestamp"])  # fmt: skip
            got = answer.get("Messages", [])
            for m in got:
                sent_ms = int(m["Attributes"]["SentTimestamp"])
                lateness.append(sent_ms - due[m["Body"]] * 1000)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if not got:
                raise RuntimeError(f"only {len(lateness)} of {count} schedules fired")
    finally:
        stop.set()
        for t in threads:
            t.join()
    return lateness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    puts, count, schedules = (200, 40, 60) if options.quick else (1000, 200, 300)
    firebox, moto = Server(), Moto()
    try:
        rows = []
        for name, port in (("firebox", firebox.port), ("moto (baseline)", moto.port)):
            rate = statistics.median(put_rate(port, puts) for _ in range(3))
            rows.append(f"| {name} | {rate:,.0f} |")
        samples = latency(firebox.port, count)
        late = firing(firebox.port, schedules)
    finally:
        firebox.stop()
        moto.stop()
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {CLIENTS} "
        f"boto3 clients in threads put {puts:,} events (one per PutEvents) that a rule sends "
        "to an SQS queue, median of 3 runs.\n\n"
        "| server | PutEvents, calls/s |\n|---|---|\n"
        + "\n".join(rows)
        + f"\n\nPutEvents' reply → the rule's target function's handler starting: p50 "
        f"{statistics.median(samples):.1f} ms, p99 {percentile(samples, 99):.1f} ms "
        f"({len(samples)} events one at a time, through the durable outbox and Event queue).\n\n"
        f"Scheduler firing accuracy: {schedules} one-time schedules at second granularity "
        f"(10 per second) sending to a queue while {CLIENTS} threads keep putting events: "
        f"lateness p50 {statistics.median(late):.0f} ms, p99 {percentile(late, 99):.0f} ms, "
        f"max {max(late):.0f} ms (SentTimestamp minus the scheduled second; AWS documents a "
        "precision of one minute). moto runs no functions without Docker and never fires "
        "schedules: no baseline for these two."
    )
    print(text)
    if not options.no_write:
        write_section("events-bench", text)


if __name__ == "__main__":
    main()

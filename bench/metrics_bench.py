"""Metrics: what recording them costs the warm invoke path, and how fast they are read.

1. Warm invokes (raw keep-alive HTTP client, p50/p99) and 8-client throughput against two
   servers in the same run, one recording metrics (the default) and one started with
   `--no-metrics`, measured in alternating rounds so drift hits both alike.
2. GetMetricData over a day of one-minute data for 100 functions (144,000 data points put
   with PutMetricData): one function's day at one-minute periods, and all 100 at five-minute
   periods with SUM(METRICS()); the same calls against moto's server (`moto[server]`, the
   baseline peer) after the same PutMetricData.

    .venv/bin/python bench/metrics_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import statistics
import sys
import time
from typing import Any

import boto3
from botocore.config import Config

from invoke_bench import (
    Server,
    bench_throughput,
    commit,
    machine,
    percentile,
    raw_invoke,
    write_section,
)
from sqs_bench import Moto

FUNCTIONS = 100
MINUTES = 1440


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(samples), "p99": percentile(samples, 99), "n": len(samples)}


def warm(servers: dict[str, Server], rounds: int, per_round: int) -> dict[str, dict[str, float]]:
    conns = {k: http.client.HTTPConnection("127.0.0.1", s.port) for k, s in servers.items()}
    for conn in conns.values():
        for _ in range(100):
            raw_invoke(conn, "noop")
    times: dict[str, list[float]] = {k: [] for k in servers}
    for n in range(rounds):  # in turn, each server first every other round
        for key, conn in sorted(conns.items(), reverse=bool(n % 2)):
            times[key] += [raw_invoke(conn, "noop") for _ in range(per_round)]
    return {k: summary(v) for k, v in times.items()}


def cloudwatch(port: int) -> Any:
    return boto3.client("cloudwatch", endpoint_url=f"http://127.0.0.1:{port}",
                        region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 0}, read_timeout=900))  # fmt: skip


def fill(cw: Any, end: dt.datetime) -> None:
    """A day of one-minute data for 100 functions, 1,000 data points per PutMetricData."""
    batch: list[dict[str, Any]] = []
    for f in range(FUNCTIONS):
        for m in range(MINUTES):
            batch.append(
                {
                    "MetricName": "Invocations",
                    "Value": float(m % 7 + f % 3),
                    "Dimensions": [{"Name": "FunctionName", "Value": f"fn-{f}"}],
                    "Timestamp": end - dt.timedelta(minutes=MINUTES - m),
                    "Unit": "Count",
                }
            )
            if len(batch) == 1000:
                cw.put_metric_data(Namespace="Bench", MetricData=batch)
                batch = []
    if batch:
        cw.put_metric_data(Namespace="Bench", MetricData=batch)


def query(f: int, period: int) -> dict[str, Any]:
    return {"Id": f"m{f}", "MetricStat": {"Metric": {
        "Namespace": "Bench", "MetricName": "Invocations",
        "Dimensions": [{"Name": "FunctionName", "Value": f"fn-{f}"}]},
        "Period": period, "Stat": "Sum"}, "ReturnData": False}  # fmt: skip


def reads(cw: Any, end: dt.datetime, samples: int,
          labels: tuple[str, ...] = ("one", "hundred")) -> dict[str, dict[str, float]]:  # fmt: skip
    start = end - dt.timedelta(minutes=MINUTES)
    one = [{**query(0, 60), "ReturnData": True}]
    every = [query(f, 300) for f in range(FUNCTIONS)]
    every.append({"Id": "total", "Expression": "SUM(METRICS())"})
    out = {}
    for label, queries, expect in (("one", one, MINUTES), ("hundred", every, MINUTES // 5)):
        if label not in labels:
            continue
        times = []
        for _ in range(samples):
            began = time.perf_counter()
            got = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
            times.append((time.perf_counter() - began) * 1000)
            print(f"  {label}: {times[-1]:.1f} ms", file=sys.stderr, flush=True)
            values = got["MetricDataResults"][-1]["Values"]
            assert len(values) >= expect - 1, (label, len(values))
        out[label] = summary(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    servers = {"on": Server("--keep-alive", "10m"), "off": Server("--keep-alive", "10m",
                                                                  "--no-metrics")}  # fmt: skip
    results: dict[str, Any] = {}
    try:
        for server in servers.values():
            server.create("noop", memory=1769)  # one full vCPU, as invoke_bench
        results["warm"] = warm(servers, 20, max(50, int(250 * scale)))
        # In turns too (on, off, off, on, …): a rate drifts from one 10 s to the next.
        spans = 2 if args.quick else 4
        for n in range(spans):
            for key, server in sorted(servers.items(), reverse=bool(n % 2)):
                rate = bench_throughput(server, "noop", 8, 2.5 if args.quick else 5.0)
                results[f"throughput_{key}"] = results.get(f"throughput_{key}", 0) + rate / spans
        end = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        cw = cloudwatch(servers["on"].port)
        began = time.perf_counter()
        fill(cw, end)
        results["fill_firebox"] = time.perf_counter() - began
        results["reads_firebox"] = reads(cw, end, max(5, int(30 * scale)))
    finally:
        for server in servers.values():
            server.stop()
    moto = Moto()
    try:
        cw = cloudwatch(moto.port)
        began = time.perf_counter()
        fill(cw, end)
        results["fill_moto"] = time.perf_counter() - began
        # moto reads one series in ~30 s here; the hundred took it 572 s once (and it has no
        # metric math: the sum came back empty), too long to repeat in every run.
        results["reads_moto"] = reads(cw, end, 3, ("one",))
    finally:
        moto.stop()
    report(results, write=not args.no_write)


def report(r: dict[str, Any], write: bool) -> None:
    def row(label: str, s: dict[str, float]) -> str:
        return f"| {label} | {s['p50']:.2f} ms | {s['p99']:.2f} ms | {s['n']} |"

    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        "Warm invokes of a no-op function (raw keep-alive HTTP client), the two servers in "
        "alternating rounds (each first every other round):",
        "",
        "| server | p50 | p99 | samples |",
        "|---|---|---|---|",
        row("metrics recorded (default)", r["warm"]["on"]),
        row("`--no-metrics`", r["warm"]["off"]),
        "",
        f"Throughput, 8 concurrent keep-alive clients, four 5 s spans each in turns: "
        f"**{r['throughput_on']:.0f} invokes/s** recording metrics, "
        f"{r['throughput_off']:.0f} invokes/s without.",
        "",
        f"GetMetricData over a day of one-minute data for {FUNCTIONS} functions "
        f"({FUNCTIONS * MINUTES:,} points, put in {r['fill_firebox']:.1f} s with PutMetricData; "
        f"moto took {r['fill_moto']:.1f} s):",
        "",
        "| query | firebox p50 | firebox p99 | moto p50 (baseline) | moto p99 |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("one", "one function, 1,440 one-minute sums"),
                       ("hundred", "100 functions, 5-minute sums, SUM(METRICS())")):  # fmt: skip
        f, m = r["reads_firebox"][key], r["reads_moto"].get(key)
        peer = (f"{m['p50']:,.0f} ms | {m['p99']:,.0f} ms" if m else
                "572,317 ms once (no metric math: empty sum) | not repeated")  # fmt: skip
        lines.append(f"| {label} | {f['p50']:.1f} ms | {f['p99']:.1f} ms | {peer} |")
    text = "\n".join(lines)
    print(text)
    if write:
        write_section("metrics-bench", text)


if __name__ == "__main__":
    main()

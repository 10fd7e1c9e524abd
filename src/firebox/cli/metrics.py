"""`firebox metrics NAME` (a function at a glance: counts, error rate, durations, a sparkline
per minute) and `firebox cost` (what the same traffic would have cost on AWS Lambda)."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import quote

import click

from firebox.cli.client import ApiClient, endpoint_option, parse_duration

BARS = "▁▂▃▄▅▆▇█"
COLUMNS = 60


def sparkline(values: list[float]) -> str:
    """One character per value, scaled to the largest; a gap is a space."""
    top = max((v for v in values if not math.isnan(v)), default=0.0)
    out = []
    for v in values:
        if math.isnan(v):
            out.append(" ")
        elif top <= 0:
            out.append(BARS[0])
        else:
            out.append(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))])
    return "".join(out)


def _stat(qid: str, name: str, metric: str, stat: str, period: int) -> dict[str, Any]:
    return {"Id": qid, "MetricStat": {"Metric": {
        "Namespace": "AWS/Lambda", "MetricName": metric,
        "Dimensions": [{"Name": "FunctionName", "Value": name}]},
        "Period": period, "Stat": stat}}  # fmt: skip


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.2f} s"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


@click.command(name="metrics")
@click.argument("name")
@click.option("--since", default="1h", show_default=True, help="How far back: 30m, 6h, 1d.")
@endpoint_option
def metrics(name: str, since: str, endpoint: str) -> None:
    """A function's invocations, errors, throttles and durations, with a sparkline each."""
    client = ApiClient(endpoint)
    client.json("GET", f"/2015-03-31/functions/{quote(name, safe='')}")  # it exists
    window = parse_duration(since)
    end = int(time.time()) // 60 * 60 + 60
    start = end - max(60, int(window) // 60 * 60)
    step = max(60, math.ceil((end - start) / COLUMNS / 60) * 60)
    start = end - (end - start) // step * step
    whole = end - start
    queries = [
        _stat("inv", name, "Invocations", "Sum", step), _stat("err", name, "Errors", "Sum", step),
        _stat("thr", name, "Throttles", "Sum", step),
        _stat("p50", name, "Duration", "p50", whole), _stat("p99", name, "Duration", "p99", whole),
        _stat("dmax", name, "Duration", "Maximum", whole),
        _stat("dp99", name, "Duration", "p99", step),
        _stat("conc", name, "ConcurrentExecutions", "Maximum", whole),
    ]  # fmt: skip
    data = client.cloudwatch("GetMetricData", {
        "MetricDataQueries": queries, "StartTime": start, "EndTime": end,
        "ScanBy": "TimestampAscending",
    })  # fmt: skip
    found = {r["Id"]: dict(zip(r["Timestamps"], r["Values"], strict=True))
             for r in data["MetricDataResults"]}  # fmt: skip
    slots = list(range(start, end, step))

    def series(qid: str) -> list[float]:
        by_time = {int(t): v for t, v in found.get(qid, {}).items()}
        return [by_time.get(t, math.nan if qid == "dp99" else 0.0) for t in slots]

    def single(qid: str) -> float | None:
        values = list(found.get(qid, {}).values())
        return values[0] if values else None

    invocations, errors = sum(series("inv")), sum(series("err"))
    rate = f"({errors / invocations:.1%})" if invocations else ""
    minutes = step // 60
    click.echo(f"{name}: the last {since}, one column per {minutes} minute"
               f"{'s' if minutes > 1 else ''}")  # fmt: skip
    click.echo(
        f"  {'invocations':<12} {_number(invocations):>10} {'':>7} {sparkline(series('inv'))}"
    )
    click.echo(f"  {'errors':<12} {_number(errors):>10} {rate:>7} {sparkline(series('err'))}")
    click.echo(f"  {'throttles':<12} {_number(sum(series('thr'))):>10} {'':>7} "
               f"{sparkline(series('thr'))}")  # fmt: skip
    click.echo(f"  {'duration p99':<12} {_number(single('p99'), 'ms'):>10} {'':>7} "
               f"{sparkline(series('dp99'))}")  # fmt: skip
    click.echo(f"  {'duration p50':<12} {_number(single('p50'), 'ms'):>10}   max "
               f"{_number(single('dmax'), 'ms')}")  # fmt: skip
    click.echo(f"  {'concurrency':<12} {_number(single('conc')):>10}   at most at once")


def _money(value: float) -> str:
    """Dollars and cents; a fraction of a cent to eight places (a test's bill is tiny)."""
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:.8f}"


@click.command(name="cost")
@click.option("--since", default="30d", show_default=True, help="How far back: 1d, 30d, 90d.")
@click.option("--by", type=click.Choice(["function", "day"]), default="function",
              show_default=True, help="One row per function, or per day.")  # fmt: skip
@endpoint_option
def cost(since: str, by: str, endpoint: str) -> None:
    """What the traffic that ran would have cost on AWS Lambda (x86_64/arm64 prices)."""
    client = ApiClient(endpoint)
    start = int(time.time() - parse_duration(since))
    report = client.json("GET", "/_firebox/cost", params={"StartTime": str(start), "By": by})
    head = "FUNCTION" if by == "function" else "DAY"
    click.echo(f"{head:<40} {'REQUESTS':>12} {'GB-SECONDS':>14} {'COST':>14}")
    for row in report["Rows"]:
        gross = row["Total"] - row["FreeTier"]
        click.echo(f"{row['Key']:<40} {row['Requests']:>12,.0f} {row['GBSeconds']:>14,.3f} "
                   f"{_money(gross):>14}")  # fmt: skip
    t = report["Total"]
    gross = t["Total"] - t["FreeTier"]
    click.echo(
        f"{'total':<40} {t['Requests']:>12,.0f} {t['GBSeconds']:>14,.3f} {_money(gross):>14}"
    )
    click.echo(f"  requests {_money(t['RequestCost'])}, duration {_money(t['DurationCost'])}, "
               f"provisioned {_money(t['ProvisionedCost'])}, ephemeral storage "
               f"{_money(t['EphemeralStorageCost'])}")  # fmt: skip
    free = report["FreeTier"]
    click.echo(f"  free tier ({free['Requests']:,.0f} requests and {free['GBSeconds']:,.0f} "
               f"GB-seconds a month): {_money(t['FreeTier'])}")  # fmt: skip
    click.echo(f"  to pay on AWS Lambda: {_money(t['Total'])}")

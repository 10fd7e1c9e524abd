"""Node.js functions: cold start and warm invoke against a fresh `node` process per invoke.

1. Cold start: the first invoke of a brand-new nodejs22.x function (a new environment), p50 /
   p99: from the reserve of pre-built sandboxes (the default: `node` already running
   firebox's runtime client, waiting for a function), and with no reserve (`--pool-size 0`:
   a sandbox built and `node` started on demand).
2. Warm invoke: the same function invoked again and again (one environment), p50 / p99.
3. Baseline, in the same run: a fresh `node` process per invoke, loading the handler and
   calling it once (what process-per-invoke emulators do, minus their containers).

    .venv/bin/python bench/node_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import subprocess
import tempfile
import time
from pathlib import Path

from coldstart_bench import wait_reserve
from invoke_bench import Server, commit, machine, make_zip, percentile, raw_invoke, write_section

HANDLER = "exports.handler = async (event) => ({ ok: true });\n"
RUNTIME = "nodejs22.x"
# Cold starts from the reserve this long after its refill was counted: a pre-started `node`
# is counted once forked, then boots and warms up (~0.1–0.2 s on this machine).
GAP_S = 0.5


def create(server: Server, name: str, memory: int = 128) -> None:
    body = {
        "FunctionName": name, "Runtime": RUNTIME, "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/bench", "MemorySize": memory,
        "Code": {"ZipFile": base64.b64encode(make_zip({"index.js": HANDLER})).decode()},
    }  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("POST", "/2015-03-31/functions", json.dumps(body))
    response = conn.getresponse()
    assert response.status == 201, response.read()
    response.read()


def node_binary() -> str:
    """The binary the nodejs22.x runtime runs on here (the same the baseline uses)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from firebox.runtimes.node import discover_binaries

    return discover_binaries()[RUNTIME]


def baseline(samples: int) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="firebox-node-baseline-"))
    (work / "index.js").write_text(HANDLER)
    runner = (
        "const h = require(process.argv[1] + '/index.js').handler;"
        "h(JSON.parse(process.argv[2])).then((r) => console.log(JSON.stringify(r)));"
    )
    node = node_binary()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([node, "-e", runner, str(work), "{}"], check=True, capture_output=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


def cold_starts(server: Server, samples: int, reserve: bool) -> list[float]:
    """First invokes of new functions, after a warm-up function (which, with a reserve,
    makes it keep pre-started runtimes of this kind)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    create(server, "warm-up")
    raw_invoke(conn, "warm-up")
    times = []
    for i in range(samples):
        create(server, f"cold-{i}")
        if reserve:
            wait_reserve(server, 1)  # a pre-started `node` of this kind (counted once forked)
        time.sleep(GAP_S if reserve else 0.1)
        times.append(raw_invoke(conn, f"cold-{i}"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    cold_n, warm_n = (10, 200) if options.quick else (40, 2000)
    server = Server("--pool-size", "0")
    try:
        on_demand = cold_starts(server, cold_n, reserve=False)
    finally:
        server.stop()
    server = Server()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        cold = cold_starts(server, cold_n, reserve=True)
        for _ in range(50):
            raw_invoke(conn, "warm-up")
        warm = [raw_invoke(conn, "warm-up") for _ in range(warm_n)]
        create(server, "full-cpu", memory=1769)  # a whole vCPU: no CPU quota in the way
        for _ in range(50):
            raw_invoke(conn, "full-cpu")
        full = [raw_invoke(conn, "full-cpu") for _ in range(warm_n)]
    finally:
        server.stop()
    fresh = baseline(cold_n)

    def row(label: str, samples: list[float]) -> str:
        return (f"| {label} | {percentile(samples, 50):.2f} | {percentile(samples, 99):.2f} | "
                f"{len(samples)} |")  # fmt: skip

    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: a no-op "
        f"{RUNTIME} handler, invoked over the HTTP API (client-side latency).\n\n"
        "| | p50 ms | p99 ms | samples |\n|---|---|---|---|\n"
        + "\n".join(
            [
                row("cold start from the reserve (new function, new environment)", cold),
                row("cold start, no reserve (`--pool-size 0`)", on_demand),
                row("warm invoke, 128 MB (one environment)", warm),
                row("warm invoke, 1,769 MB (a whole vCPU)", full),
                row("baseline: a fresh `node` process per invoke", fresh),
            ]
        )
        + "\n\nNode has no zygote to fork from: the reserve keeps sandboxes with `node` already "
        "running the runtime client, per command (runtime, heap size) and mounts, while "
        "such functions are in demand; a cold start from it hands the waiting runtime its "
        "function. Without it, a cold start builds the sandbox and starts `node`. At 128 MB "
        "a function gets 128/1,769 of a CPU, as on Lambda (a CFS quota per 100 ms period): "
        "V8's bursts of compiling and collecting then wait for the next period, which is "
        "the 128 MB warm p99; with a whole vCPU the runtime's own overhead shows."
    )
    print(text)
    if not options.no_write:
        write_section("node-bench", text)


if __name__ == "__main__":
    main()

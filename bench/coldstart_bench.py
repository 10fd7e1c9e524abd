"""Cold-start benchmark: from the pre-built reserve, with no reserve, and a fresh-interpreter
baseline, in the same run; a burst of 50 simultaneous first invokes; idle memory of 100.

    .venv/bin/python bench/coldstart_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from typing import Any

from invoke_bench import Server, commit, machine, percentile, raw_invoke, write_section
from isolation_bench import environments, idle_pss_kb

GAP_S = 0.1
# (flags, seconds between the function's creation, or the reserve's refill, and its invoke)
MODES = {
    "from the pre-built reserve (default)": ([], GAP_S),
    "from the reserve, back to back (invoked the moment the refill is counted)": ([], 0.0),
    "reserve off: forked from the zygote (`--pool-size 0`)": (["--pool-size", "0"], GAP_S),
    "baseline: fresh launcher + interpreter (`--no-zygote`)": (["--no-zygote"], GAP_S),
}


def health(server: Server) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/_firebox/health")
    result: dict[str, Any] = json.loads(conn.getresponse().read())
    return result


def wait_reserve(server: Server, minimum: int, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while health(server)["prebuilt"] < minimum and time.monotonic() < deadline:
        time.sleep(0.01)


def cold_starts(flags: list[str], samples: int, gap_s: float) -> list[float]:
    server = Server(*flags)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        server.create("warm-up")  # boots the zygote and fills the reserve
        raw_invoke(conn, "warm-up")
        times = []
        for i in range(samples):
            server.create(f"cold-{i}")
            if not flags:
                # A full reserve: the refill the previous cold start began is counted once
                # its runtime is forked, which then still sets itself up for a few ms.
                wait_reserve(server, 2)
            # Cold starts some time apart (the common case) share the CPU with neither
            # that set-up nor the new function's background compile; back to back, they do.
            time.sleep(gap_s)
            times.append(raw_invoke(conn, f"cold-{i}"))
        return times
    finally:
        server.stop()


HOLD_S = 1.0
# Each invoke holds its environment for HOLD_S, so no environment can serve two of a burst's
# invokes (a no-op one could, for the clients' threads do not all send at the same moment);
# the rate is then count / (time to the last response - HOLD_S).
HOLDING = f"import time\ndef handler(event, context):\n    time.sleep({HOLD_S})\n"


def one_burst(server: Server, name: str, count: int) -> tuple[float, int]:
    """Sends `count` first invokes of a new function at once; environments per second."""
    server.create(name, HOLDING)
    conns = [http.client.HTTPConnection("127.0.0.1", server.port) for _ in range(count)]
    for conn in conns:
        conn.connect()
    barrier = threading.Barrier(count + 1)
    done: list[float] = []

    def one(conn: http.client.HTTPConnection) -> None:
        barrier.wait()
        raw_invoke(conn, name)
        done.append(time.perf_counter())

    threads = [threading.Thread(target=one, args=(c,)) for c in conns]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = max(done) - started - HOLD_S
    distinct = len([e for e in environments(server) if e["function_name"] == name])
    return count / elapsed, distinct


def settled_reserve(server: Server, limit_s: float = 8.0) -> int:
    """Waits until the reserve stops growing (it refills to the demand it saw); its size."""
    deadline = time.monotonic() + limit_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = health(server)["prebuilt"]
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since > 0.5:
            break
        time.sleep(0.05)
    return last


def burst(count: int, *flags: str) -> tuple[float, int, float, int]:
    """A burst on a fresh server (reserve at its minimum), then one more once the reserve has
    grown to the demand it saw: rates and the distinct environments of the first."""
    server = Server("--concurrency", str(count * 3), *flags)
    try:
        server.create("warm-up")
        raw_invoke(http.client.HTTPConnection("127.0.0.1", server.port), "warm-up")
        wait_reserve(server, 2)
        time.sleep(0.5)  # the new function's bytecode is compiled in the background
        first, distinct = one_burst(server, "burst-1", count)
        reserve = settled_reserve(server)
        again, _ = one_burst(server, "burst-2", count)
        return first, distinct, again, reserve
    finally:
        server.stop()


def idle_memory(count: int) -> float:
    """PSS per idle environment, with `count` of them (every process of each, and helpers)."""
    server = Server("--concurrency", str(count * 2))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        for i in range(count):
            server.create(f"idle-{i}")
            raw_invoke(conn, f"idle-{i}")
        return idle_pss_kb(server, "idle-")[0] / 1024
    finally:
        server.stop()


FASTAPI_APP = """
from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int):
    return {"id": item_id}

handler = Mangum(app, lifespan="off")
"""
HTTP_EVENT = json.dumps({
    "version": "2.0", "routeKey": "$default", "rawPath": "/items/1", "rawQueryString": "",
    "headers": {}, "isBase64Encoded": False,
    "requestContext": {"http": {"method": "GET", "path": "/items/1", "protocol": "HTTP/1.1",
                                "sourceIp": "127.0.0.1", "userAgent": "bench"},
                       "stage": "$default", "requestId": "r", "routeKey": "$default",
                       "accountId": "0", "apiId": "a", "domainName": "d", "domainPrefix": "d",
                       "time": "t", "timeEpoch": 0},
}).encode()  # fmt: skip


BOTO3_APP = """import boto3

s3 = boto3.client("s3", region_name="us-east-1")


def handler(event, context):
    return {"statusCode": 200, "body": s3.meta.region_name}
"""


def vendored_fastapi() -> dict[str, str | bytes]:
    """FastAPI and Mangum installed with pip --target, as users vendor them into a zip."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    target = Path(tempfile.mkdtemp(prefix="bench-fastapi-"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                    "fastapi", "mangum"], check=True, capture_output=True)  # fmt: skip
    files: dict[str, str | bytes] = {
        str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }  # fmt: skip
    files["app.py"] = FASTAPI_APP
    return files


def app_cold_starts(flags: list[str], files: dict[str, str | bytes], samples: int) -> list[float]:
    """First invokes of new functions deploying a FastAPI app (one package, compiled once)."""
    from pathlib import Path

    server = Server(*flags)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        times = []
        for i in range(samples):
            server.create(f"app-{i}", files, memory=512, timeout=30)
            cache = Path(server.data) / "code"
            deadline = time.monotonic() + 60
            while (
                "--no-precompile" not in flags
                and time.monotonic() < deadline
                and not all(
                    any(cache.glob(f"{p.name}.compiled-*")) for p in cache.iterdir() if p.is_dir()
                )
            ):
                time.sleep(0.05)  # the background compile of the package (see precompile.py)
            if not flags:
                wait_reserve(server, 2)
            times.append(raw_invoke(conn, f"app-{i}", HTTP_EVENT))
        return times
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    samples = 10 if args.quick else 40
    rows = []
    for label, (flags, gap_s) in MODES.items():
        times = cold_starts(flags, samples, gap_s)
        rows.append(f"| {label} | {statistics.median(times):.1f} ms | "
                    f"{percentile(times, 99):.1f} ms | {len(times)} |")  # fmt: skip
    fastapi = vendored_fastapi()
    app_rows = []
    for label, flags, files in (
        ("FastAPI + Mangum, vendored (17 MB unzipped), precompiled bytecode (default)", [],
         fastapi),
        ("FastAPI + Mangum, **baseline**: compiled at every cold start (`--no-precompile`)",
         ["--no-precompile"], fastapi),
        ("the runtime's bundled boto3, an S3 client made at init", [], {"app.py": BOTO3_APP}),
    ):  # fmt: skip
        times = app_cold_starts(flags, files, 5 if args.quick else 15)
        app_rows.append(f"| {label} | {statistics.median(times):.0f} ms | "
                        f"{percentile(times, 99):.0f} ms | {len(times)} |")  # fmt: skip
    bursts = [burst(50) for _ in range(3 if args.quick else 5)]
    rate = statistics.median(b[0] for b in bursts)
    distinct = min(b[1] for b in bursts)
    again = statistics.median(b[2] for b in bursts)
    reserve = statistics.median(b[3] for b in bursts)
    idle = idle_memory(20 if args.quick else 100)
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        f"| cold start (new function, first invoke, raw HTTP client; {GAP_S * 1000:.0f} ms after "
        "its creation or the reserve's refill unless said) | p50 | p99 | samples |",
        "|---|---|---|---|",
        *rows,
        "",
        "| cold start of a function with large imports, first invoke | p50 | p99 | samples |",
        "|---|---|---|---|",
        *app_rows,
        "",
        f"Burst: 50 simultaneous first invokes of one new function, on a fresh server (reserve "
        f"at its minimum, 2): served by {distinct} distinct environments at **{rate:.0f} new "
        f"environments per second** (median of {len(bursts)} servers; each burst "
        f"{', '.join(f'{b[0]:.0f}' for b in bursts)}/s). The same burst again once the "
        f"reserve had grown to the demand it saw ({reserve:.0f} pre-built sandboxes): "
        f"**{again:.0f} per second** ({', '.join(f'{b[2]:.0f}' for b in bursts)}/s).",
        "",
        f"Idle memory: **{idle:.1f} MB PSS per environment** with "
        f"{20 if args.quick else 100} idle environments.",
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("coldstart-bench", text)


if __name__ == "__main__":
    main()

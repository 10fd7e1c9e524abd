"""Event invocations: accepted per second (the 202 path, fsync included) and drain rate.

    .venv/bin/python bench/async_bench.py [--quick] [--no-write]

Baselines in the same run: accepting with one client (every event its own fsync) versus
eight (events arriving together share one commit), and draining versus synchronous invokes
of the same no-op function (the pool's own ceiling).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import threading
import time

from invoke_bench import INVOKE_PATH, Server, bench_throughput, commit, machine, write_section


def _accept_worker(args: tuple[int, str, float, float]) -> list[float]:
    port, name, start_at, duration = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"X-Amz-Invocation-Type": "Event"}
    while time.time() < start_at:
        time.sleep(0.001)
    times = []
    end = start_at + duration
    while time.time() < end:
        started = time.perf_counter()
        conn.request("POST", INVOKE_PATH.format(name), b"{}", headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 202, response.status
        times.append((time.perf_counter() - started) * 1000)
    return times


def queue_row(server: Server, name: str) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/_firebox/queue")
    row: dict[str, float] = json.loads(conn.getresponse().read())["Functions"].get(name, {})
    return row


def accept_rate(clients: int, duration: float) -> tuple[float, float, float, str]:
    """Accepted events per second, and p50/p99 of the 202 in ms, with draining held back.

    The server's one slot is held by a sleeping synchronous invoke, so the queue only
    accepts (its dispatcher finds no capacity and waits): the accept path measured alone.
    Returns the data dir too: its backlog is what drain_rate() measures.
    """
    server = Server("--concurrency", "1")
    try:
        server.create("noop")
        server.create("sleeper", SLEEPER, timeout=120)
        holder = threading.Thread(target=_hold, args=(server.port,), daemon=True)
        holder.start()
        time.sleep(1.0)  # the sleeper's environment starts and takes the slot
        start_at = time.time() + 1.0
        with multiprocessing.Pool(clients) as pool:
            results = pool.map(_accept_worker,
                               [(server.port, "noop", start_at, duration)] * clients)  # fmt: skip
        latencies = sorted(t for times in results for t in times)
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return len(latencies) / duration, p50, p99, server.data
    finally:
        server.proc.kill()  # kill -9: the accepted backlog must be on disk anyway
        server.proc.wait()


def drain_rate(data: str) -> tuple[float, int]:
    """A new server on the killed one's data dir drains its backlog: events/s."""
    server = Server("--concurrency", "8", data=data)
    try:
        started = time.perf_counter()
        backlog = int(queue_row(server, "noop").get("waiting", 0))
        while queue_row(server, "noop").get("waiting", 0) > 0:
            time.sleep(0.01)
        return backlog / (time.perf_counter() - started), backlog
    finally:
        server.stop()


SLEEPER = "import time\ndef handler(event, context):\n    time.sleep(60)\n"


def _hold(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", INVOKE_PATH.format("sleeper"), b"{}")
        conn.getresponse().read()
    except OSError:
        pass  # the server stopped first


def end_to_end(events: int) -> tuple[float, float]:
    """One client sends events while they run: events/s until all ran; sync invokes/s too."""
    server = Server("--concurrency", "8")
    try:
        server.create("noop")
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        headers = {"X-Amz-Invocation-Type": "Event"}
        started = time.perf_counter()
        for _ in range(events):
            conn.request("POST", INVOKE_PATH.format("noop"), b"{}", headers)
            conn.getresponse().read()
        while queue_row(server, "noop").get("succeeded", 0) < events:
            time.sleep(0.01)
        rate = events / (time.perf_counter() - started)
        sync = bench_throughput(server, "noop", 8, 3.0)
        return rate, sync
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    duration, events = (2.0, 1000) if args.quick else (5.0, 5000)
    rows = []
    backlog_dir = ""
    for clients in (1, 8):
        rate, p50, p99, backlog_dir = accept_rate(clients, duration)
        rows.append(f"| accept (202, fsync'd), {clients} client{'s' if clients > 1 else ''} "
                    f"| {rate:,.0f}/s | {p50:.2f} ms | {p99:.2f} ms |")  # fmt: skip
    drain, backlog = drain_rate(backlog_dir)
    rows.append(
        f"| drain: a backlog of {backlog:,} after kill -9 and restart | {drain:,.0f}/s | – | – |"
    )
    both, sync = end_to_end(events)
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        "| Event invocations, no-op function | rate | p50 | p99 |",
        "|---|---|---|---|",
        *rows,
        f"| end to end: {events} events, one client, until all ran | {both:,.0f}/s | – | – |",
        f"| **baseline**: synchronous invokes, 8 clients, same function | {sync:,.0f}/s | – | – |",
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("async-bench", text)


if __name__ == "__main__":
    main()

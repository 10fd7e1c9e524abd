"""Cold starts and idle memory per environment: isolated as root vs rootless, same run.

Servers one after another on the same machine, as root and as an unprivileged user (on a
host whose cgroups need root: no cgroup), each with zygotes (from the pre-built reserve,
and on demand with `--pool-size 0`) and with `--no-zygote` (a fresh launcher per
environment). Each creates N no-op functions and times their first invokes; then, with all
N environments idle, the proportional set size (PSS) of every process the server started,
divided by N.

    .venv/bin/python bench/rootless_bench.py [--quick] [--no-write]   (as root)
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from invoke_bench import (
    ROOT,
    Server,
    bench_cold,
    commit,
    machine,
    raw_invoke,
    summary,
    write_section,
)
from isolation_bench import descendants, pss_kb


def rootless_command(home: str) -> list[str]:
    """firebox run as an unprivileged user: the system tests' own way (tests/system/support)."""
    sys.path.insert(0, str(ROOT / "tests" / "system"))
    from support import rootless_prefix

    return [*rootless_prefix(Path(home)), "firebox.cli.main"]


def server_pid(server: Server) -> int:
    """The serving process (under runuser the child of a child)."""
    for pid in descendants(server.proc.pid):  # the process itself first
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"python" in argv[0] and b"serve" in argv:
            return pid
    return server.proc.pid


def health(server: Server) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/_firebox/health")
    result: dict[str, Any] = json.loads(conn.getresponse().read())
    return result


def bench_reserve(server: Server, samples: int) -> dict[str, float]:
    """First invokes that find a pre-built sandbox waiting (the reserve refilled between)."""
    times = []
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    for i in range(samples):
        deadline = time.monotonic() + 10
        while health(server)["prebuilt"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        name = f"reserve-{i}"
        server.create(name)
        times.append(raw_invoke(conn, name))
    return summary(times)


def run(label: str, samples: int, *args: str, command: list[str] | None = None,
        data: str | None = None) -> dict[str, Any]:  # fmt: skip
    """On demand (no reserve), then from the reserve, then idle memory per environment."""
    server = Server("--pool-size", "0", *args, data=data, command=command)
    try:
        on_demand = bench_cold(server, samples)
        pids = descendants(server_pid(server))[1:]  # what the server started, not itself
        per_env = sum(pss_kb(p) for p in pids) / samples / 1024
    finally:
        server.stop()
    reserve = None
    if "--no-zygote" not in args:
        server = Server(*args, data=f"{data}-reserve" if data else None, command=command)
        try:
            server.create("warm")  # the reserve fills for this interpreter
            reserve = bench_reserve(server, samples)
        finally:
            server.stop()
    return {"label": label, "on_demand": on_demand, "reserve": reserve, "per_env_mb": per_env}


def cell(stats: dict[str, float] | None) -> str:
    return f"{stats['p50']:.2f} / {stats['p99']:.2f} ms" if stats else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it compares root with an unprivileged user")
    samples = 10 if options.quick else 30
    home = tempfile.mkdtemp(prefix="firebox-rootless-bench-")
    rootless = rootless_command(home)
    results = [
        run("root (isolated, cgroup v1)", samples),
        run(
            "rootless (user namespaces, no cgroup on this host)",
            samples,
            command=rootless,
            data=f"{home}/data",
        ),
        run("root, `--no-zygote`", samples, "--no-zygote"),
        run(
            "rootless, `--no-zygote`",
            samples,
            "--no-zygote",
            command=rootless,
            data=f"{home}/data-nz",
        ),
    ]
    subprocess.run(["rm", "-rf", home], check=False)
    rows = "\n".join(
        f"| {r['label']} | {cell(r['reserve'])} | {cell(r['on_demand'])} | "
        f"{r['per_env_mb']:.1f} MB |"
        for r in results
    )
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {samples} new "
        "no-op Python 3.11 functions per row and server, the first invoke of each timed (raw "
        "keep-alive HTTP client). *From the reserve*: a pre-built sandbox was waiting; *on "
        "demand*: `--pool-size 0`, every sandbox built for its invoke. Idle memory: with the "
        "on-demand server's environments all idle, the PSS of every process the server started "
        "(zygotes included), divided by their number.\n\n"
        "| server | cold start from the reserve, p50 / p99 | cold start on demand, p50 / p99 | "
        "idle memory per environment (PSS) |\n"
        "|---|---|---|---|\n" + rows
    )
    print(text)
    if not options.no_write:
        write_section("rootless-bench", text)


if __name__ == "__main__":
    main()

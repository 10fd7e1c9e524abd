"""Isolation benchmark: cold start with isolation off and on, and idle environment memory.

Each mode gets its own `firebox serve`; the same trivial function is created anew for every
sample, so every sample is a cold start. Idle memory is the PSS of every process that belongs
to an environment (runtime, the sandbox's init and monitor, the network helper), summed.

    .venv/bin/python bench/isolation_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from invoke_bench import Server, commit, machine, percentile, raw_invoke, write_section

MODES = {
    "process (isolation off): fresh interpreter per environment": ["--sandbox", "process"],
    "isolated, fresh launcher + interpreter per environment (`--no-zygote`)": [
        "--sandbox",
        "isolated",
        "--no-zygote",
    ],
    "isolated, zygote, network host": ["--sandbox", "isolated", "--network", "host"],
    "isolated, zygote, network isolated + outbound helper (default)": ["--sandbox", "isolated"],
}


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def parents() -> dict[int, int]:
    """Every process's parent, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry)] = int(stat[1])
    return found


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def environments(server: Server) -> list[dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request("GET", "/_firebox/environments")
    envs: list[dict[str, Any]] = json.loads(conn.getresponse().read())["Environments"]
    return envs


def helpers(server_pid: int) -> list[int]:
    """Per-environment helpers the server started (slirp4netns)."""
    return [p for p, ppid in parents().items() if ppid == server_pid and comm(p) == "slirp4netns"]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pid_namespace(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def zygotes(server_pid: int) -> list[int]:
    """The server's zygotes (not the runtimes forked from them, which share their cmdline)."""
    return [p for p, ppid in parents().items() if ppid == server_pid and "zygote.py" in cmdline(p)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def idle_pss_kb(server: Server, prefix: str) -> tuple[float, int]:
    """PSS per idle environment of the functions named prefix*: every process of each
    (its tree, and whatever joined its PID namespace: the runtime is the zygote's child),
    the outbound helpers, and the zygotes' own share (they exist for the environments)."""
    time.sleep(0.5)  # let start-up garbage settle before measuring memory
    envs = [e for e in environments(server) if e["function_name"].startswith(prefix)]
    members = {p for e in envs for p in descendants(e["pid"])}
    namespaces = {pid_namespace(p) for p in members} - {"", pid_namespace(os.getpid())}
    members |= {int(e) for e in os.listdir("/proc") if e.isdigit()
                and pid_namespace(int(e)) in namespaces}  # fmt: skip
    total = sum(pss_kb(p) for p in members)
    total += sum(pss_kb(p) for p in helpers(server.proc.pid))
    total += sum(pss_kb(p) for p in zygotes(server.proc.pid))
    return total / max(1, len(envs)), len(envs)


def bench_mode(args: list[str], samples: int, idle: int) -> dict[str, Any]:
    server = Server(*args)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        server.create("warm-up")  # the first environment of a runtime also boots its zygote
        raw_invoke(conn, "warm-up")
        times = []
        for i in range(samples):
            server.create(f"cold-{i}")
            times.append(raw_invoke(conn, f"cold-{i}"))
        # Idle memory: `idle` environments, each after one invoke.
        for i in range(idle):
            server.create(f"idle-{i}")
            raw_invoke(conn, f"idle-{i}")
        per_env_kb, count = idle_pss_kb(server, "idle-")
        return {"cold": times, "idle_kb": per_env_kb, "envs": count}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    samples, idle = (10, 10) if args.quick else (40, 30)
    rows = []
    for label, flags in MODES.items():
        result = bench_mode(flags, samples, idle)
        cold = result["cold"]
        rows.append(
            f"| {label} | {statistics.median(cold):.1f} ms | {percentile(cold, 99):.1f} ms "
            f"| {len(cold)} | {result['idle_kb'] / 1024:.1f} MB ({result['envs']} envs) |"
        )
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        "| sandbox | cold start p50 | p99 | samples | idle PSS per environment |",
        "|---|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("isolation-bench", text)


if __name__ == "__main__":
    main()

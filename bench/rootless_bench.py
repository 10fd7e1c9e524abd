"""Cold starts and idle memory per environment: isolated as root vs rootless, same run.

Three servers, one after another on the same machine: root with its defaults (zygotes and
pre-built sandboxes), root with `--no-zygote` (a fresh launcher per environment, the path
rootless sandboxes take today), and rootless (an unprivileged user; on a host whose cgroups
need root, no cgroup). Each creates N no-op functions and times their first invokes; then,
with all N environments idle, the proportional set size (PSS) of every process the server
started, divided by N.

    .venv/bin/python bench/rootless_bench.py [--quick] [--no-write]   (as root)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from invoke_bench import ROOT, Server, bench_cold, commit, machine, write_section

USER = "firebox-rootless"


def rootless_command(home: str) -> list[str]:
    """firebox run as an unprivileged user, with an interpreter that user may execute."""
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", USER], check=True)  # fmt: skip
    subprocess.run(["chown", "-R", USER, home], check=True)
    site = next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    base = ["runuser", "-u", USER, "--", "env", f"HOME={home}", f"PYTHONPATH={ROOT}/src:{site}"]
    for python in (sys.executable, f"/usr/bin/{version}"):
        check = subprocess.run([*base, python, "-c", "import firebox"], capture_output=True)
        if check.returncode == 0:
            return [*base, python, "-m", "firebox.cli.main"]
    raise SystemExit(f"no {version} that {USER} may run")


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            found.append(child)
            todo.append(child)
    return found


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_pid(server: Server) -> int:
    """The serving process (under runuser the child of a child)."""
    pids = [server.proc.pid, *descendants(server.proc.pid)]
    for pid in pids:
        try:
            if (
                b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
                and b"python" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            ):
                return pid
        except OSError:
            continue
    return server.proc.pid


def run(label: str, samples: int, *args: str, command: list[str] | None = None,
        data: str | None = None) -> dict[str, object]:  # fmt: skip
    server = Server(*args, data=data, command=command)
    try:
        cold = bench_cold(server, samples)
        pids = descendants(server_pid(server))
        per_env = sum(pss_kb(p) for p in pids) / samples / 1024
    finally:
        server.stop()
    return {"label": label, "cold": cold, "per_env_mb": per_env}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it compares root with an unprivileged user")
    samples = 10 if options.quick else 30
    home = tempfile.mkdtemp(prefix="firebox-rootless-bench-")
    results = [
        run("root, zygotes + pre-built sandboxes (default)", samples),
        run("root, `--no-zygote` (fresh launcher)", samples, "--no-zygote"),
        run(
            "rootless (unprivileged user, no cgroup here)",
            samples,
            command=rootless_command(home),
            data=f"{home}/data",
        ),
    ]
    rows = "\n".join(
        f"| {r['label']} | {r['cold']['p50']:.2f} ms | {r['cold']['p99']:.2f} ms | "  # type: ignore[index]
        f"{r['per_env_mb']:.1f} MB |"
        for r in results
    )
    text = (
        f"Measured {__import__('datetime').date.today()} at commit `{commit()}` on {machine()}: "
        f"{samples} new no-op Python 3.11 functions per server, first invoke each (raw "
        "keep-alive HTTP client); then, all environments idle, the PSS of every process the "
        "server started, divided by their number.\n\n"
        "| server | cold start p50 | cold start p99 | idle memory per environment (PSS) |\n"
        "|---|---|---|---|\n" + rows
    )
    print(text)
    if not options.no_write:
        write_section("rootless-bench", text)


if __name__ == "__main__":
    main()

"""Deploying a service from serverless.yml: `firebox deploy` (first deploy, a deploy with no
changes, a deploy after a code edit) and `firebox dev` (an edit saved → the next request runs
the new code), against the Serverless Framework's own `serverless package` of the same service
in the same run: the Framework only compiles and zips it, it deploys nothing.

The service: five Python functions, each behind an HTTP route and fed by a queue of its own
(26 resources). Every command is timed from the outside, as a user waits for it (the CLI's
start-up included).

    .venv/bin/python bench/deploy_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from invoke_bench import Server, commit, machine, percentile, write_section

FIREBOX = str(Path(sys.executable).parent / "firebox")
SERVERLESS = (
    Path(sys.executable).parent.parent / "serverless" / "node_modules" / ".bin" / "serverless"
)
FUNCTIONS = 5


def service_yml() -> str:
    lines = ["service: bench", "provider:", "  name: aws", "  runtime: python3.11",
             "  memorySize: 256", "functions:"]  # fmt: skip
    for i in range(FUNCTIONS):
        lines += [f"  f{i}:", "    handler: handler.handler", "    events:",
                  f"      - httpApi: 'GET /f{i}-${{sls:stage}}'",
                  "      - sqs:", f"          arn: !GetAtt Queue{i}.Arn"]  # fmt: skip
    lines += ["resources:", "  Resources:"]
    for i in range(FUNCTIONS):
        lines += [f"    Queue{i}:", "      Type: AWS::SQS::Queue", "      Properties:",
                  f"        QueueName: bench-${{sls:stage}}-{i}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def handler(version: int) -> str:
    return f"def handler(event, context):\n    return {{'statusCode': 200, 'body': 'v{version}'}}\n"


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    took = (time.perf_counter() - began) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return took


def serves(url: str, body: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                if answer.read().decode() == body:
                    return
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"{url} never answered {body}")


def measure(samples: int) -> dict[str, list[float]]:
    server = Server()
    times: dict[str, list[float]] = {k: [] for k in ("first", "same", "edit", "dev", "sls")}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "serverless.yml").write_text(service_yml())
            (work / "handler.py").write_text(handler(0))
            env = {**os.environ, "FIREBOX_ENDPOINT": f"http://127.0.0.1:{server.port}",
                   "XDG_CACHE_HOME": str(work / ".cache")}  # fmt: skip
            for i in range(samples):
                times["first"].append(timed([FIREBOX, "deploy", "-s", f"s{i}"], work, env))
            for _ in range(samples * 2):
                times["same"].append(timed([FIREBOX, "deploy", "-s", "s0"], work, env))
            for version in range(1, samples * 2 + 1):
                (work / "handler.py").write_text(handler(version))
                times["edit"].append(timed([FIREBOX, "deploy", "-s", "s0"], work, env))
            (work / "handler.py").write_text(handler(0))
            times["dev"] = dev_loop(server.port, work, env, samples * 4)
            if SERVERLESS.exists():
                sls_env = {**env, "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
                           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
                for _ in range(samples):
                    times["sls"].append(timed([str(SERVERLESS), "package", "--package",
                                               str(work / ".pkg")], work, sls_env))  # fmt: skip
    finally:
        server.stop()
    return times


def dev_loop(port: int, work: Path, env: dict[str, str], edits: int) -> list[float]:
    """Edit saved → the route answers with the new code, under `firebox dev`."""
    proc = subprocess.Popen([FIREBOX, "dev", "-s", "dev"], cwd=work, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("watching "):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    times = []
    try:
        if not ready.wait(120):
            raise SystemExit("firebox dev did not start")
        url = f"http://127.0.0.1:{port}/http/f0-dev"
        serves(url, "v0")
        for version in range(1000, 1000 + edits):
            began = time.perf_counter()
            (work / "handler.py").write_text(handler(version))
            serves(url, f"v{version}")
            times.append((time.perf_counter() - began) * 1000)
            time.sleep(0.3)  # the next edit in a new batch of changes
    finally:
        proc.terminate()
        proc.wait(30)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    times = measure(3 if args.quick else 8)
    labels = {
        "first": "`firebox deploy`, first deploy (26 resources created)",
        "same": "`firebox deploy`, nothing changed",
        "edit": "`firebox deploy` after a code edit (5 functions updated, 5 versions)",
        "dev": "`firebox dev`: edit saved → the next request runs the new code",
        "sls": "**baseline**: `serverless package` (compile and zip only, nothing deployed)",
    }
    rows = [f"| {labels[k]} | {statistics.median(v):.0f} ms | {percentile(v, 99):.0f} ms | "
            f"{len(v)} |" for k, v in times.items() if v]  # fmt: skip
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        "| five functions, five routes, five queues | p50 | p99 | samples |",
        "|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("deploy-bench", text)


if __name__ == "__main__":
    main()

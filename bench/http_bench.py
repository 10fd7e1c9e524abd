"""HTTP request → function → response, measured with wrk against firebox and, in the same run,
the same handler behind serverless-offline (serverless@3 + serverless-offline@13 from npm).

    .venv/bin/python bench/http_bench.py [--duration 10] [--no-write] [--offline-dir DIR]

wrk comes from Debian (`apt-get install wrk`); serverless-offline is installed with npm into
--offline-dir (default /tmp/slsbench) when it is not there yet. Either missing: its row says so.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from invoke_bench import Server, commit, machine, write_section

HANDLER = (
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'headers': {'content-type': 'text/plain'}, 'body': 'ok'}\n"
)
SERVERLESS_YML = """service: firebox-bench
frameworkVersion: '3'
provider:
  name: aws
  runtime: python3.11
functions:
  hello:
    handler: handler.handler
    events:
      - httpApi:
          path: /hello
          method: get
plugins:
  - serverless-offline
custom:
  serverless-offline:
    httpPort: {port}
    lambdaPort: {lambda_port}
    noPrependStageInUrl: true
"""


def wrk(url: str, duration: int, connections: int = 8) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) from one wrk run."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for label, pct in (("p50", "50%"), ("p99", "99%")):
        value, unit = re.search(rf"\s{pct}\s+([\d.]+)(\w+)", out).groups()  # type: ignore[union-attr]
        result[label] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["errors"] = float(errors[1]) if errors else 0.0
    return result


def firebox_rows(duration: int) -> list[str]:
    server = Server("--concurrency", "16")
    try:
        server.create("hello", HANDLER)
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        conn.request("POST", "/2021-10-31/functions/hello/url", json.dumps({"AuthType": "NONE"}))
        url_id = json.loads(conn.getresponse().read())["FunctionUrl"].split("//")[1].split(".")[0]
        route = {"RouteKey": "GET /hello", "FunctionName": "hello"}
        conn.request("POST", "/_firebox/routes", json.dumps(route))
        conn.getresponse().read()
        rows = []
        for label, path in (("firebox, function URL", f"/lambda-url/{url_id}/hello"),
                            ("firebox, route", "/http/hello")):  # fmt: skip
            url = f"http://127.0.0.1:{server.port}{path}"
            wrk(url, 2)  # warm: environments started
            r = wrk(url, duration)
            rows.append(f"| {label} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['rps']:,.0f}/s "
                        f"| {int(r['errors'])} |")  # fmt: skip
        return rows
    finally:
        server.stop()


def offline_row(duration: int, directory: Path) -> str:
    label = "**baseline**: serverless-offline 13 (serverless 3), same handler"
    if not (directory / "node_modules" / "serverless-offline").exists():
        directory.mkdir(parents=True, exist_ok=True)
        packages = ["serverless@3", "serverless-offline@13"]
        npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", *packages]
        subprocess.run(npm, cwd=directory, check=False)
    if not (directory / "node_modules" / "serverless-offline").exists():
        return f"| {label} | could not be installed here | – | – | – |"
    work = Path(tempfile.mkdtemp(prefix="sls-"))
    (work / "handler.py").write_text(HANDLER)
    (work / "serverless.yml").write_text(SERVERLESS_YML.format(port=3999, lambda_port=3998))
    (work / "node_modules").symlink_to(directory / "node_modules")
    # serverless-offline starts `python3` per invocation: make it Debian's, not a slow shim.
    bin_dir = work / "bin"
    bin_dir.mkdir()
    for name in ("python", "python3", "python3.11"):
        (bin_dir / name).symlink_to("/usr/bin/python3.11")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
           "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}  # fmt: skip
    proc = subprocess.Popen([str(directory / "node_modules" / ".bin" / "serverless"), "offline",
                             "start"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", 3999, timeout=30)
                conn.request("GET", "/hello")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            return f"| {label} | did not start | – | – | – |"
        wrk("http://127.0.0.1:3999/hello", 2)
        r = wrk("http://127.0.0.1:3999/hello", duration)
        return (f"| {label} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['rps']:,.0f}/s "
                f"| {int(r['errors'])} |")  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--offline-dir", type=Path, default=Path("/tmp/slsbench"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    rows = firebox_rows(args.duration)
    rows.append(offline_row(args.duration, args.offline_dir))
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}: "
        f"wrk, 2 threads, 8 connections, {args.duration} s, after a 2 s warm-up.",
        "",
        "| HTTP GET → minimal handler → 200 | p50 | p99 | requests/s | non-2xx |",
        "|---|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("http-bench", text)


if __name__ == "__main__":
    main()

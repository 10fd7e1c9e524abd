"""Layers: the cold start of a Python function with two layers against the same function
without, in the same run, from the pre-built reserve (the default) and with no reserve.

Two pairs of functions: a no-op handler (with two small layers, or none), and a handler that
imports `requests` (from two layers: `requests` itself, and urllib3/idna/certifi/charset_
normalizer; or the same packages vendored in its own zip). The layers' merged /opt is built
when the function is created and its bytecode compiled in the background, as a function's
own package is; each cold start waits for that, as the cold-start bench does.

    .venv/bin/python bench/layers_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from coldstart_bench import wait_reserve
from invoke_bench import Server, commit, machine, make_zip, percentile, raw_invoke, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from firebox.worker.codestore import merged_key

NOOP = "def handler(event, context):\n    return None\n"
REQUESTS = "import requests\n\ndef handler(event, context):\n    return requests.__version__\n"


def vendored_requests() -> dict[str, bytes]:
    target = Path(sys.executable).parent.parent / "vendor" / "requests"
    if not (target / ".complete").exists():
        raise SystemExit(f"{target} is missing: run make bootstrap")
    return {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.name != ".complete"}  # fmt: skip


def call(server: Server, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    conn.request(method, path, json.dumps(body))
    response = conn.getresponse()
    answer: dict[str, Any] = json.loads(response.read() or b"{}")
    assert response.status in (200, 201), answer
    return answer


SHAS: dict[str, str] = {}  # a layer version's ARN → its package's hex sha


def hex_sha(b64: str) -> str:
    return base64.b64decode(b64).hex()


def publish(server: Server, name: str, files: dict[str, str | bytes]) -> str:
    zipped = base64.b64encode(make_zip(files)).decode()
    answer = call(server, "POST", f"/2018-10-31/layers/{name}/versions",
                  {"Content": {"ZipFile": zipped}})  # fmt: skip
    SHAS[answer["LayerVersionArn"]] = hex_sha(answer["Content"]["CodeSha256"])
    return str(answer["LayerVersionArn"])


def create(server: Server, name: str, files: dict[str, str | bytes], layers: list[str]) -> None:
    answer = call(server, "POST", "/2015-03-31/functions", {
        "FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
        "Role": "arn:aws:iam::000000000000:role/bench", "Layers": layers,
        "Code": {"ZipFile": base64.b64encode(make_zip(files)).decode()},
    })  # fmt: skip
    trees = [hex_sha(answer["CodeSha256"])]
    if len(layers) == 1:
        trees.append(SHAS[layers[0]])
    elif layers:
        trees.append(merged_key([SHAS[arn] for arn in layers]))
    compiled(server, trees)


def compiled(server: Server, trees: list[str], limit_s: float = 60.0) -> None:
    """Waits for the background compile of a function's package and its layers' tree."""
    store = Path(server.data) / "code"
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not all(
        any(store.glob(f"{tree}.compiled-*")) for tree in trees
    ):
        time.sleep(0.05)


def cold_starts(flags: list[str], samples: int) -> dict[str, list[float]]:
    server = Server(*flags)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        packages = vendored_requests()
        requests_only = {f"python/{k}": v for k, v in packages.items() if k.startswith("requests")}
        rest = {f"python/{k}": v for k, v in packages.items() if not k.startswith("requests")}
        heavy = [publish(server, "requests", requests_only), publish(server, "deps", rest)]
        light = [publish(server, "one", {"python/one.py": "ONE = 1"}),
                 publish(server, "two", {"bin/two": "#!/bin/sh\necho two\n"})]  # fmt: skip
        cases = {
            "no-op handler, no layers": ({"app.py": NOOP}, []),
            "no-op handler, two small layers": ({"app.py": NOOP}, light),
            "`import requests`, vendored in the function's zip": (
                {"app.py": REQUESTS, **packages}, []),
            "`import requests`, from two layers": ({"app.py": REQUESTS}, heavy),
        }  # fmt: skip
        create(server, "warm-up", {"app.py": NOOP}, [])
        raw_invoke(conn, "warm-up")  # boots the zygote and fills the reserve
        times: dict[str, list[float]] = {label: [] for label in cases}
        for i in range(samples):
            for j, (label, (files, layers)) in enumerate(cases.items()):
                name = f"cold-{i}-{j}"
                create(server, name, files, layers)
                if not flags:
                    wait_reserve(server, 2)
                time.sleep(0.1)
                times[label].append(raw_invoke(conn, name))
        return times
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    samples = 8 if args.quick else 25
    rows = []
    for mode, flags in (("reserve", []), ("no reserve (`--pool-size 0`)", ["--pool-size", "0"])):
        for label, times in cold_starts(flags, samples).items():
            rows.append(f"| {label} | {mode} | {statistics.median(times):.1f} ms | "
                        f"{percentile(times, 99):.1f} ms | {len(times)} |")  # fmt: skip
    text = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}.",
        "",
        "| python3.11 cold start (new function, first invoke) | sandbox | p50 | p99 | samples |",
        "|---|---|---|---|---|",
        *rows,
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        write_section("layers-bench", text)


if __name__ == "__main__":
    main()

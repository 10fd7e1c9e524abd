"""`firebox cost` and `/_firebox/cost` on a dedicated server whose price table (the data
dir's prices.json) has no free tier, so a small known workload costs what is computed here
by hand from each invoke's REPORT line; and `firebox metrics` on the same traffic."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support import FIREBOX, FireboxServer, create_function

CODE = "def handler(event, context):\n    return sum(range(event.get('n', 10)))\n"
X86_DURATION = 0.0000166667
EPHEMERAL = 0.0000000309


def billed_ms(tail: str) -> int:
    return int(re.search(r"Billed Duration: (\d+) ms", tail)[1])  # type: ignore[index]


def cli(server: FireboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIREBOX_ENDPOINT": server.url}
    return subprocess.run([FIREBOX, *args], env=env, capture_output=True, text=True, timeout=60)


def test_cost_of_a_known_workload(
    start_server: Callable[..., FireboxServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "prices.json").write_text(json.dumps({"free_requests": 0, "free_gb_seconds": 0}))
    server = start_server(data_dir=data)
    lam = server.client()
    big = create_function(lam, CODE, MemorySize=1024, EphemeralStorage={"Size": 2048})
    small = create_function(lam, CODE, MemorySize=128)
    expected = 0.0
    for name, memory_gb, extra_gb, count in ((big, 1.0, 1.5, 4), (small, 0.125, 0.0, 3)):
        for _ in range(count):
            response = lam.invoke(FunctionName=name, Payload=b'{"n": 1000}', LogType="Tail")
            seconds = billed_ms(base64.b64decode(response["LogResult"]).decode()) / 1000
            expected += 0.2 / 1e6 + memory_gb * seconds * X86_DURATION
            expected += extra_gb * seconds * EPHEMERAL
    start = int(time.time()) - 3600
    report = httpx.get(f"{server.url}/_firebox/cost",
                       params={"StartTime": start, "By": "function"}).json()  # fmt: skip
    assert report["Total"]["Total"] == pytest.approx(expected, rel=1e-9)
    assert report["Total"]["FreeTier"] == 0
    rows = {r["Key"]: r for r in report["Rows"]}
    assert rows[big]["Requests"] == 4 and rows[small]["Requests"] == 3
    assert rows[big]["EphemeralStorageCost"] > 0 and rows[small]["EphemeralStorageCost"] == 0
    by_day = httpx.get(f"{server.url}/_firebox/cost", params={"StartTime": start, "By": "day"})
    assert [r["Requests"] for r in by_day.json()["Rows"]] == [7]
    shown = cli(server, "cost", "--since", "1d")
    assert shown.returncode == 0, shown.stderr
    assert big in shown.stdout and f"to pay on AWS Lambda: ${expected:.8f}" in shown.stdout
    bad = httpx.get(f"{server.url}/_firebox/cost", params={"StartTime": start, "By": "week"})
    assert bad.status_code == 400 and bad.json()["Type"] == "User"
    assert cli(server, "cost", "--by", "week").returncode != 0

    seen = cli(server, "metrics", big, "--since", "30m")
    assert seen.returncode == 0, seen.stderr
    lines = {line.split()[0]: line for line in seen.stdout.splitlines()[1:]}
    assert lines["invocations"].split()[1] == "4"
    assert lines["errors"].split()[1] == "0"
    assert any(ch in lines["invocations"] for ch in "▁▂▃▄▅▆▇█")
    missing = cli(server, "metrics", "no-such-function")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr

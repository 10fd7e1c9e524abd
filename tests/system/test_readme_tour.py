"""The README's tour, run as a new user would: its shell blocks pasted in order into one shell.

The only change made to them: the server's address (the tour's 127.0.0.1:8070) is this test's
server, for the AWS tools through the AWS_ENDPOINT_URL the tour exports, and for the firebox
CLI through FIREBOX_ENDPOINT (its default is the tour's address).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from support import FireboxServer

ROOT = Path(__file__).resolve().parents[2]
TOUR = "## A five-minute tour"


def tour_script() -> str:
    """The tour's shell blocks, in order, as one script."""
    text = (ROOT / "README.md").read_text()
    start = text.index(TOUR)
    section = text[start : text.index("\n## ", start + len(TOUR))]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) >= 5, "the tour has lost its shell blocks"
    return "\n".join(blocks)


def test_the_readme_tour_runs_as_written(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    script = tour_script().replace("127.0.0.1:8070", f"127.0.0.1:{server.port}")
    # A fresh login shell's environment: nothing of this test process's leaks in.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8", "FIREBOX_ENDPOINT": server.url}  # fmt: skip
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, f"{out[-3000:]}\n{result.stderr[-3000:]}"
    assert out.splitlines()[0] == "Active"  # create-function's State
    assert '"greeting": "hello firebox"' in out  # aws lambda invoke's out.json
    assert "hello from hello" in out  # the log line, through aws logs
    assert "{'greeting': 'hello boto3'" in out
    assert '"greeting": "hello cli"' in out and '"greeting": "hello a file"' in out
    assert "REPORT RequestId" in result.stderr  # invoke --log
    assert "accepted (202)" in result.stderr  # invoke --event
    assert re.search(r"^hello\s+python3\.11\s+app\.handler\s+512 MB", out, re.MULTILINE)
    assert re.search(r"^1$", out, re.MULTILINE) and re.search(r"^2$", out, re.MULTILINE)
    assert out.count('"greeting": "hello prod"') + out.count('"greeting": "hi prod"') == 8
    assert "hello:prod  1 → 2" in out  # the rollout's status line

"""A data directory written by an earlier release opens, upgrades in place, and serves.

The fixture (tests/fixtures/datadir-f3d82ca) was written by the release at commit f3d82ca,
the last before schema migrations, with tests/fixtures/make_datadir.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from firebox.asyncinvoke.queue.sqlite import MIGRATIONS as QUEUE
from firebox.storage.migrations import version
from firebox.storage.sqlite import MIGRATIONS as STORE
from firebox.telemetry.logstore import MIGRATIONS as LOGS
from support import FIREBOX, FireboxServer, free_port, invoke_json

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "datadir-f3d82ca"


@pytest.fixture
def old_data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    # The queued event's times, moved to now: it was queued a minute ago and its retry is an
    # hour away, whenever the test runs (as written, the fixture's own times pass by: the
    # retry falls due, and the event ages out of its six hours).
    with sqlite3.connect(data / "queue.sqlite3") as conn:
        now = time.time()
        conn.execute("UPDATE events SET enqueued_at = ?, not_before = ?", (now - 60, now + 3600))
    return data


def test_a_data_dir_of_an_earlier_release_opens_and_serves(
    start_server: Callable[..., FireboxServer], old_data_dir: Path
) -> None:
    server = start_server(data_dir=old_data_dir)
    lam = server.client()
    config = lam.get_function_configuration(FunctionName="kept")
    assert config["Description"] == "written by an older release"
    assert config["MemorySize"] == 256 and config["Environment"]["Variables"] == {"KEPT": "yes"}
    function = lam.get_function(FunctionName="kept")
    assert function["Tags"] == {"team": "upgrade"}
    assert function["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    versions = lam.list_versions_by_function(FunctionName="kept")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    alias = lam.get_alias(FunctionName="kept", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}
    event_config = lam.get_function_event_invoke_config(FunctionName="kept")
    assert event_config["MaximumRetryAttempts"] == 1

    assert invoke_json(lam, "kept", {"n": 1})[0] == {"version": "two", "event": {"n": 1}}
    assert invoke_json(lam, "kept", Qualifier="1")[0]["version"] == "one"
    url_id = (old_data_dir / "url-id").read_text()
    assert httpx.get(f"{server.url}/lambda-url/{url_id}/").json()["version"] == "two"
    assert httpx.get(f"{server.url}/http/kept").json()["version"] == "two"
    queued = httpx.get(f"{server.url}/_firebox/queue").json()["Functions"]["retried"]
    assert queued["retrying"] == 1  # still waiting for its retry, an hour after it failed
    logs = httpx.post(server.url, headers={"X-Amz-Target": "Logs_20140328.FilterLogEvents",
                                           "Content-Type": "application/x-amz-json-1.1"},
                      json={"logGroupName": "/aws/lambda/kept"}).json()["events"]  # fmt: skip
    assert any("START RequestId" in e["message"] for e in logs)
    stamps = [e["timestamp"] for e in logs]
    assert stamps == sorted(stamps)

    server.stop()
    for name, migrations in (("firebox", STORE), ("queue", QUEUE), ("logs", LOGS)):
        with sqlite3.connect(old_data_dir / f"{name}.sqlite3") as conn:
            assert version(conn) == len(migrations), name


def test_a_data_dir_of_a_newer_release_is_refused(old_data_dir: Path) -> None:
    with sqlite3.connect(old_data_dir / "firebox.sqlite3") as conn:
        conn.execute(f"PRAGMA user_version = {len(STORE) + 1}")
    result = subprocess.run(
        [FIREBOX, "serve", "--port", str(free_port()), "--data-dir", str(old_data_dir),
         "--sandbox", "process"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "written by a newer release" in result.stderr
    with sqlite3.connect(old_data_dir / "firebox.sqlite3") as conn:  # left as it was
        assert conn.execute("SELECT name FROM functions ORDER BY name").fetchall() == [
            ("kept",), ("retried",)]  # fmt: skip

"""`firebox rollout`: alias weights shift step by step, and roll back when errors climb.

No test waits on a clock: the completing rollout uses a zero interval (the steps follow each
other at once), the rolling-back one an hour-long interval it never reaches (it rolls back
as soon as enough invokes of the new version have failed), and the restart test checks
state that does not change while it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from support import FireboxServer, create_function, invoke_json, make_zip, wait_for
from test_cli import run

GOOD = "def handler(event, context):\n    return 'ok'\n"
GOOD2 = GOOD.replace("'ok'", "'ok v2'")
BAD = "def handler(event, context):\n    raise RuntimeError('v2 is broken')\n"


def released(lam: Any, second: str) -> str:
    """A function with version 1 (good), version 2 (`second`) and alias prod → 1."""
    name = create_function(lam, GOOD, Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": second}),
                             Publish=True)  # fmt: skip
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    return name


def status(server: FireboxServer, name: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{server.url}/_firebox/rollouts/{name}/prod").json()
    return result


def test_rollout_completes_through_every_step(lam: Any, server: FireboxServer) -> None:
    name = released(lam, GOOD2)
    result = run(server, "rollout", name, "--alias", "prod", "--to-version", "2",
                 "--steps", "10,50,100", "--interval", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Completed" in result.stdout
    rollout = status(server, name)
    assert rollout["State"] == "Completed"
    assert [step["weight"] for step in rollout["History"]] == [10, 50, 100]
    # Nothing invoked the alias meanwhile: the rollout says it checked nothing.
    assert "no invocation of it was seen during the rollout" in rollout["Reason"]
    assert "its error rate was never checked" in result.stdout
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["FunctionVersion"] == "2" and not alias.get("RoutingConfig")
    body, response = invoke_json(lam, name, Qualifier="prod")
    assert body == "ok v2" and response["ExecutedVersion"] == "2"
    assert "Completed" in run(server, "rollout", "status", name, "--alias", "prod").stdout


def test_a_step_can_wait_for_invocations(lam: Any, server: FireboxServer) -> None:
    """With --min-step-invocations a step outlasts its interval until the new version has been
    seen that often, and the result says how much was measured."""
    name = released(lam, GOOD2)
    result = run(server, "rollout", name, "--alias", "prod", "--to-version", "2",
                 "--steps", "50,100", "--interval", "0", "--min-step-invocations", "3",
                 "--no-wait")  # fmt: skip
    assert result.returncode == 0, result.stderr
    held = wait_for(lambda: "held until 3" in (r := status(server, name))["Reason"] and r)
    assert held["State"] == "InProgress" and held["Weight"] == 50
    seen = 0
    while seen < 3:
        assert status(server, name)["State"] == "InProgress"  # held: fewer than 3 seen
        seen += invoke_json(lam, name, Qualifier="prod")[1]["ExecutedVersion"] == "2"
    rollout = wait_for(lambda: (r := status(server, name))["State"] == "Completed" and r)
    assert rollout["History"][0]["invocations"] == 3
    assert "3 invocations of it checked, 0 errors (0.0%)" in rollout["Reason"]


def test_rollout_rolls_back_when_the_new_version_fails(lam: Any, server: FireboxServer) -> None:
    name = released(lam, BAD)
    result = run(server, "rollout", name, "--alias", "prod", "--to-version", "2",
                 "--steps", "50,100", "--interval", "1h", "--max-error-rate", "0.05",
                 "--min-invocations", "5", "--no-wait")  # fmt: skip
    assert result.returncode == 0, result.stderr
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.5}
    failures = 0
    while status(server, name)["State"] == "InProgress":
        _, response = invoke_json(lam, name, Qualifier="prod")
        failures += response.get("FunctionError") == "Unhandled"
        assert failures <= 5  # the fifth failure of version 2 ends it
    rollout = status(server, name)
    assert rollout["State"] == "RolledBack" and "exceeded 5.0%" in rollout["Reason"]
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig")
    for _ in range(5):  # everything is back on version 1
        assert invoke_json(lam, name, Qualifier="prod")[1]["ExecutedVersion"] == "1"
    waited = run(server, "rollout", "status", name, "--alias", "prod")
    assert "RolledBack" in waited.stdout


def test_rollout_survives_restart_and_can_be_aborted(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    lam = server.client()
    name = released(lam, GOOD2)
    body = {"FunctionName": name, "Alias": "prod", "ToVersion": "2", "Steps": [25, 100],
            "IntervalSeconds": 3600}  # fmt: skip
    started = httpx.post(f"{server.url}/_firebox/rollouts", content=json.dumps(body))
    assert started.status_code == 201, started.text
    again = httpx.post(f"{server.url}/_firebox/rollouts", content=json.dumps(body))
    assert again.headers["x-amzn-ErrorType"] == "ResourceConflictException"
    server.stop()
    server.start()
    lam = server.client()
    rollout = status(server, name)
    assert rollout["State"] == "InProgress" and rollout["Weight"] == 25
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}
    result = run(server, "rollout", "abort", name, "--alias", "prod")
    assert result.returncode == 0 and "Aborted" in result.stdout
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig")


def test_bad_rollouts_are_refused(lam: Any, server: FireboxServer) -> None:
    name = released(lam, GOOD2)
    cases = [
        (["--to-version", "9"], "ResourceNotFoundException"),
        (["--to-version", "1"], "InvalidParameterValueException"),  # already there
        (["--to-version", "2", "--steps", "50,20"], "InvalidParameterValueException"),
        (["--to-version", "2", "--steps", "10,50"], "InvalidParameterValueException"),
    ]
    for args, error in cases:
        result = run(server, "rollout", name, "--alias", "prod", *args, "--no-wait")
        assert result.returncode != 0 and error in result.stderr, (args, result.stderr)
    missing = run(server, "rollout", name, "--alias", "nope", "--to-version", "2", "--no-wait")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    alias = lam.get_alias(FunctionName=name, Name="prod")  # nothing changed
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig")


def test_rollout_ends_with_its_function_or_alias(lam: Any, server: FireboxServer) -> None:
    name = released(lam, GOOD2)
    body = {"FunctionName": name, "Alias": "prod", "ToVersion": "2", "Steps": [50, 100],
            "IntervalSeconds": 3600}  # fmt: skip
    post = f"{server.url}/_firebox/rollouts"
    assert httpx.post(post, content=json.dumps(body)).status_code == 201
    lam.delete_alias(FunctionName=name, Name="prod")
    assert status(server, name)["State"] == "Aborted"
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    assert httpx.post(post, content=json.dumps(body)).status_code == 201
    lam.delete_function(FunctionName=name)
    assert httpx.get(f"{server.url}/_firebox/rollouts/{name}/prod").status_code == 404
    create_function(lam, GOOD, FunctionName=name, Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": BAD}), Publish=True)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    assert httpx.post(post, content=json.dumps(body)).status_code == 201  # a fresh start


def test_rollout_counts_only_its_alias_and_yields_to_manual_changes(
    lam: Any, server: FireboxServer
) -> None:
    name = released(lam, BAD)
    result = run(server, "rollout", name, "--alias", "prod", "--to-version", "2",
                 "--steps", "50,100", "--interval", "1", "--min-invocations", "2",
                 "--no-wait")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for _ in range(3):  # version 2 called directly (say, by a test alias) is not prod traffic
        assert invoke_json(lam, name, Qualifier="2")[1]["FunctionError"] == "Unhandled"
    assert status(server, name)["History"][-1]["invocations"] == 0
    # An operator takes the alias back by hand: the rollout stops and leaves it alone.
    lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="1", RoutingConfig={})
    rollout = wait_for(lambda: (r := status(server, name))["State"] != "InProgress" and r)
    assert rollout["State"] == "Aborted" and "changed outside" in rollout["Reason"]
    alias = lam.get_alias(FunctionName=name, Name="prod")
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig")

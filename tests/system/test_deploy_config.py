"""serverless.yml read and resolved as the Serverless Framework v3 does it, checked against the
Framework itself: `serverless print` (installed by the bootstrap, run offline) is the oracle
for each sample service in tests/fixtures/serverless (variables of every source firebox
resolves, defaults, nesting, files, params, stages, CloudFormation tags, escapes, lists of
functions and resources merged), and for the errors of variables that do not resolve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from firebox.deploy.config import load_service
from firebox.deploy.yamlfile import ConfigError

SAMPLES = Path(__file__).parents[1] / "fixtures" / "serverless"
SERVERLESS = (
    Path(sys.executable).parent.parent / "serverless" / "node_modules" / ".bin" / "serverless"
)
FIREBOX = Path(sys.executable).parent / "firebox"
ENVIRON = {"FIREBOX_SAMPLE_HOME": "/home/sample", "FIREBOX_SAMPLE_SET": "was set"}
CASES: dict[str, dict[str, Any]] = {
    "basic": {"stage": "prod"}, "defaults": {}, "fallbacks": {}, "files": {},
    "params": {"param": ["cli=from-cli"]}, "references": {}, "cfn": {"stage": "test"},
    "escapes": {}, "merged": {}, "region": {"region": "ap-south-1"}, "strings": {},
    "dotenv": {}, "dotenv-prod": {"stage": "prod"}, "tricky": {},
}  # fmt: skip
ERRORS = ("err-env", "err-self", "err-syntax", "err-circular", "err-dependent", "err-param")


def arguments(options: dict[str, Any]) -> list[str]:
    args = []
    for name in ("stage", "region"):
        if options.get(name):
            args += [f"--{name}", options[name]]
    for param in options.get("param", ()):
        args += ["--param", param]
    return args


def directory(sample: str) -> Path:
    """A sample's service directory (`name-variant` samples share `name`'s)."""
    return SAMPLES / (sample if (SAMPLES / sample).is_dir() else sample.rsplit("-", 1)[0])


def framework(sample: str, options: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """`serverless print --format json` of a sample, offline."""
    assert SERVERLESS.exists(), f"{SERVERLESS} is missing: run make bootstrap"
    environ = {**os.environ, **ENVIRON, "SLS_TELEMETRY_DISABLED": "1",
               "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*"}  # fmt: skip
    return subprocess.run([str(SERVERLESS), "print", "--format", "json", *arguments(options)],
                          cwd=directory(sample), env=environ, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def oracle() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every sample through the Framework (a few seconds each: in parallel)."""
    runs = {**CASES, **{name: {} for name in ERRORS}}
    with ThreadPoolExecutor(4) as pool:
        futures = {name: pool.submit(framework, name, options) for name, options in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def ours(sample: str, options: dict[str, Any]) -> dict[str, Any]:
    return load_service(directory(sample) / "serverless.yml", options,
                        environ={**os.environ, **ENVIRON})  # fmt: skip


@pytest.mark.parametrize("sample", CASES)
def test_resolved_as_the_framework_resolves_it(
    oracle: dict[str, subprocess.CompletedProcess[str]], sample: str
) -> None:
    run = oracle[sample]
    assert run.returncode == 0, run.stdout + run.stderr
    assert ours(sample, CASES[sample]) == json.loads(run.stdout)


@pytest.mark.parametrize("sample", ERRORS)
def test_unresolvable_variables_are_the_frameworks_errors_with_their_line(
    oracle: dict[str, subprocess.CompletedProcess[str]], sample: str
) -> None:
    run = oracle[sample]
    assert run.returncode == 1
    expected = run.stdout.strip().removeprefix("Error:").strip().splitlines()
    with pytest.raises(ConfigError) as caught:
        ours(sample, {})
    lines = str(caught.value).splitlines()
    assert lines[0] == expected[0]  # "Cannot resolve serverless.yml: Variables resolution …"
    assert len(lines) == len(expected)
    for mine, theirs in zip(lines[1:], expected[1:], strict=True):
        # the same words, and then the line of the property in serverless.yml
        assert mine.startswith(theirs.removesuffix(",")), (mine, theirs)
        assert " (serverless.yml line " in mine


def test_the_cli_prints_it_and_fails_clearly() -> None:
    printed = subprocess.run([str(FIREBOX), "print", "--format", "json", "--stage", "prod"],
                             cwd=SAMPLES / "basic", capture_output=True, text=True,
                             env={**os.environ, **ENVIRON}, check=True)  # fmt: skip
    assert json.loads(printed.stdout) == ours("basic", {"stage": "prod"})
    as_yaml = subprocess.run([str(FIREBOX), "print", "-c", str(SAMPLES / "cfn" / "serverless.yml")],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert as_yaml.stdout.startswith("service: cfn\n") and "Fn::GetAtt:" in as_yaml.stdout
    failed = subprocess.run([str(FIREBOX), "print"], cwd=SAMPLES / "err-env",
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 1 and failed.stdout == ""
    assert 'Cannot resolve variable at "custom.x"' in failed.stderr
    assert "(serverless.yml line 5: ${env:FIREBOX_UNSET_A})" in failed.stderr
    missing = subprocess.run([str(FIREBOX), "print", "-c", "/nonexistent/serverless.yml"],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 1 and "Cannot read" in missing.stderr


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "serverless.yml"
    broken.write_text("service: x\nprovider:\n  name: aws\n  bad: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d"):
        load_service(broken, {})
    tagged = tmp_path / "tags.yml"
    tagged.write_text("service: x\nprovider: aws\ncustom:\n  t: !Transform {}\n")
    with pytest.raises(ConfigError, match=r"\(line 4\): unknown tag !<!Transform>"):
        load_service(tagged, {})

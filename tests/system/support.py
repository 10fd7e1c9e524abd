"""What the system tests share: real `firebox serve` processes, clients, zip builders, polling.

Test modules import these from here (`from support import …`); their fixtures are in
conftest.py, a module name every tier's conftest shares.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

FIREBOX = str(Path(sys.executable).with_name("firebox"))
# As root (CI) every test server must isolate: a silent fall-back to plain processes would
# make the whole suite test the wrong thing. Without root only `without_root` tests run.
SANDBOX = "isolated" if os.geteuid() == 0 else "process"


ROOTLESS_USER = "firebox-rootless"


def rootless_prefix(home: Path) -> list[str]:
    """How to run firebox as an unprivileged user (made here if missing): the command prefix,
    ending in an interpreter that user may run with this checkout's packages on its path.

    The suite's own interpreter may live where that user cannot read (a pyenv under /root):
    then the system's interpreter of the same version, which can import the same packages.
    A checkout the user cannot reach (under /root, say) is bind-mounted into `home` in a
    mount namespace of the server's own: nothing on the host changes.
    """
    if subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", ROOTLESS_USER], check=True)  # fmt: skip
    subprocess.run(["chown", "-R", ROOTLESS_USER, str(home)], check=True)
    checkout = Path(__file__).resolve().parents[2]
    site = Path(next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for mount in ([], ["bind"]):
        root, outer = checkout, []
        if mount:  # the same tree, reached through a path the user may traverse
            root = home / "checkout"
            root.mkdir(exist_ok=True)
            outer = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     f'mount --bind "{checkout}" "{root}" && exec "$0" "$@"']  # fmt: skip
        path = f"{root / 'src'}:{root / site.relative_to(checkout)}"
        base = [*outer, "runuser", "-u", ROOTLESS_USER, "--", "env", f"HOME={home}",
                f"PYTHONPATH={path}"]  # fmt: skip
        for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
            check = [*base, python, "-c", "import firebox.cli.main"]
            if subprocess.run(check, capture_output=True).returncode == 0:
                return [*base, python, "-m"]  # then "firebox.cli.main" as the server's command
    raise RuntimeError(f"no {version} that {ROOTLESS_USER} may run with this checkout")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Polls until predicate returns something truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class FireboxServer:
    """A real `firebox serve` child process."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.env: dict[str, str] = {}  # extra environment variables for the server
        self.firebox = FIREBOX  # the command that serves (another installation's, say)
        self.prefix: list[str] = []  # what runs it (another user's, say: see rootless_prefix)
        self.secret = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FireboxServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [*self.prefix, self.firebox, "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir),
             "--log-level", "warning", "--sandbox", SANDBOX, *self.args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
        )  # fmt: skip
        wait_for(self._healthy, timeout=30)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/_firebox/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def health(self) -> dict[str, Any]:
        health: dict[str, Any] = httpx.get(f"{self.url}/_firebox/health").json()
        return health

    def environments(self) -> list[dict[str, Any]]:
        envs: list[dict[str, Any]] = httpx.get(f"{self.url}/_firebox/environments").json()[
            "Environments"
        ]
        return envs

    def client(self, **config: Any) -> Any:
        return lambda_client(self.url, **config)


def lambda_client(url: str, **config: Any) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 0}, read_timeout=120, **config),
    )


def vendored(packages: str) -> dict[str, bytes]:
    """The files of packages the bootstrap installed with pip --target (e.g. "fastapi mangum"),
    as a function vendors them into its zip: tests never download anything."""
    target = Path(sys.executable).parent.parent / "vendor" / packages.replace(" ", "+")
    if not (target / ".complete").exists():
        raise AssertionError(f"{target} is missing: run make bootstrap")
    return {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.name != ".complete"}  # fmt: skip


def make_zip(files: dict[str, str | bytes], modes: dict[str, int] | None = None) -> bytes:
    """A zip of the given files; modes sets unix permissions (e.g. 0o755 for a bootstrap)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_function(lam: Any, code: str | dict[str, str | bytes], **kwargs: Any) -> str:
    """Creates a python3.11 function from app.py source (or a dict of files); returns its name."""
    files = {"app.py": code} if isinstance(code, str) else code
    name = kwargs.pop("FunctionName", unique())
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/test",
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip(files)},
        **kwargs,
    }
    lam.create_function(**params)
    return name


def invoke_json(
    lam: Any, name: str, event: Any = None, **kwargs: Any
) -> tuple[Any, dict[str, Any]]:
    import json

    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    return json.loads(response["Payload"].read()), response


def runtime_processes(function_name: str) -> list[int]:
    """Host pids of every process still running a function's code: a scan of the process table.

    Isolated environments are found by their cgroup (firebox/<function>.<environment>), which
    every process inside inherits; plain processes by the function name in their environment.
    """
    group = f"/{function_name}.".encode()
    marker = f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup", "rb") as f:
                mine = any(b"/firebox/" in line and group in line for line in f)
            if not mine:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    mine = marker in f.read()
        except OSError:
            continue
        if mine and process_alive(int(entry)):
            found.append(int(entry))
    return found


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def function_names(lam: Any) -> set[str]:
    """Every function's name, across all pages."""
    pages = lam.get_paginator("list_functions").paginate()
    return {f["FunctionName"] for page in pages for f in page["Functions"]}


def stored_state(data_dir: Path) -> str:
    """Everything a server has stored, as text to compare: every table of its database (read
    by another connection, as a second process would) and the code packages on disk."""
    import sqlite3

    db = sqlite3.connect(f"file:{data_dir / 'firebox.sqlite3'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name")]  # fmt: skip
        dump = [f"{t}: {sorted(map(repr, db.execute(f'SELECT * FROM {t}')))}" for t in tables]
    finally:
        db.close()
    code = data_dir / "code"
    # (Precompiled markers come and go in the background: a cache, not state.)
    packages = sorted(p.name for p in code.iterdir()
                      if not p.name.startswith(".") and ".compiled-" not in p.name) if (
        code.is_dir()) else []  # fmt: skip
    return "\n".join([*dump, f"code: {packages}"])


def parsed_error(
    response: httpx.Response, operation: str, service: str = "lambda"
) -> tuple[int, str, str]:
    """An error answer as botocore reads it: (status, code, message). Fails the test when the
    answer is not one botocore can parse into an error."""
    import botocore.session
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)
    parser = create_parser(model.protocol)
    parsed = parser.parse(
        {"status_code": response.status_code, "headers": dict(response.headers),
         "body": response.content},
        op.output_shape,
    )  # fmt: skip
    error = parsed.get("Error", {})
    assert error.get("Code"), f"not an AWS error envelope: {response.status_code} {response.text!r}"
    return response.status_code, str(error["Code"]), str(error.get("Message", ""))


# A handler that logs each event it gets as one line, `EVENT <json>` (see recorded_events).
RECORDER = """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
"""


def recorded_events(logs: Any, name: str) -> list[dict[str, Any]]:
    """The events a RECORDER function has logged so far (none before its log group exists)."""
    import json

    from botocore.exceptions import ClientError

    try:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                       filterPattern="EVENT")["events"]  # fmt: skip
    except ClientError:
        return []
    return [json.loads(e["message"].split("EVENT ", 1)[1]) for e in found]

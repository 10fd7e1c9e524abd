"""A hostile-function suite: every escape attempt fails the way Lambda would fail it.

The destructive probes run only after a harmless probe has shown that isolation is active
(unprivileged uid, host paths invisible): they must never run unconfined on a developer's
or CI's machine. The suite skips when not root; CI runs as root, so it runs there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import (
    FireboxServer,
    create_function,
    invoke_json,
    rootless_prefix,
    runtime_processes,
    wait_for,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="isolation needs root")


@pytest.fixture(scope="module", params=["root", "rootless"])
def hostile(request: pytest.FixtureRequest) -> Iterator[FireboxServer]:
    """A server of its own, required to isolate (it refuses to start otherwise): as root, and
    as an unprivileged user (user namespaces, no cgroup: this host's cgroups need root)."""
    # Outside pytest's root-only temporary directories: the unprivileged user must reach it.
    home = Path(tempfile.mkdtemp(prefix="firebox-hostile-"))
    server = FireboxServer(home / "data", "--sandbox", "isolated")
    if request.param == "rootless":
        server.prefix = rootless_prefix(home)
        server.firebox = "firebox.cli.main"
    # Something only the server's environment holds: no function may ever see it.
    server.secret = f"firebox-secret-{os.urandom(8).hex()}"
    server.env["FIREBOX_TEST_SECRET"] = server.secret
    server.start()
    yield server
    server.stop()
    if not os.environ.get("FIREBOX_KEEP_TEST_DATA"):  # kept for a post-mortem when set
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def lam(hostile: FireboxServer) -> Any:
    return hostile.client()


@pytest.fixture(scope="module")
def bystander(lam: Any) -> str:
    """An innocent function created before the attacks; it must be intact afterwards."""
    return create_function(lam, "def handler(event, context):\n    return 'still here'\n")


@pytest.fixture(scope="module", autouse=True)
def confined(lam: Any, hostile: FireboxServer, bystander: str) -> None:
    """The harmless probe: refuse every destructive probe unless isolation is proven."""
    code = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    return {'uid': os.getuid(), 'gid': os.getgid(),\n"
        "            'visible': [p for p in event['paths'] if os.path.exists(p)]}\n"
    )
    name = create_function(lam, code)
    paths = [str(hostile.data_dir.resolve()), "/etc/shadow", str(Path.home()), "/work"]
    body, response = invoke_json(lam, name, {"paths": paths})
    if "FunctionError" in response or body["uid"] == 0 or body["visible"]:
        pytest.fail(f"isolation is NOT active ({body}); refusing to run hostile functions")


@pytest.fixture(scope="module")
def rootless(hostile: FireboxServer) -> bool:
    """Whether this module's server runs as an unprivileged user (no cgroup on this host)."""
    return bool(hostile.prefix)


def no_cgroup(hostile: FireboxServer) -> bool:
    """The documented fallback is in force: the server says it has no per-environment cgroup."""
    cgroups = next(p for p in hostile.health()["protections"] if p["name"] == "cgroups")
    return not cgroups["active"] and "Delegate=yes" in cgroups["advice"]


def attack(lam: Any, code: str, event: Any = None, **config: Any) -> tuple[Any, dict[str, Any]]:
    name = create_function(lam, code, **config)
    return invoke_json(lam, name, event or {}, LogType="Tail")


def test_host_files_are_invisible(lam: Any, hostile: FireboxServer, bystander: str) -> None:
    other_code = next((hostile.data_dir / "code").glob("*/app.py"))
    code = (
        "import os\n"
        "def handler(event, context):\n"
        "    out = {}\n"
        "    for path in event['paths']:\n"
        "        try:\n"
        "            with open(path, 'rb') as f:\n"
        "                out[path] = 'READ %d bytes' % len(f.read())\n"
        "        except OSError as exc:\n"
        "            out[path] = type(exc).__name__\n"
        "    out['/'] = sorted(os.listdir('/'))\n"
        "    out['/var'] = sorted(os.listdir('/var'))\n"
        "    return out\n"
    )
    secrets = ["/etc/shadow", str(hostile.data_dir.resolve() / "firebox.sqlite3"),
               str(other_code), "/root/.bash_history", str(Path(__file__).resolve())]  # fmt: skip
    body, _ = attack(lam, code, {"paths": secrets})
    for path in secrets:
        assert body[path] in ("FileNotFoundError", "PermissionError"), (path, body[path])
    assert set(body["/"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt",
                              "proc", "sbin", "tmp", "usr", "var"}  # fmt: skip
    assert set(body["/var"]) <= {"lang", "runtime", "sdk", "task"}


def test_read_only_code_and_root(lam: Any) -> None:
    code = (
        "import os\n"
        "def handler(event, context):\n"
        "    out = {}\n"
        "    for path in ('/var/task/app.py', '/var/task/new.py', '/evil', '/usr/evil',\n"
        "                 '/etc/passwd', '/var/runtime/bootstrap.py', '/var/sdk/six.py',\n"
        "                 '/var/sdk/new.py'):\n"
        "        try:\n"
        "            open(path, 'a').close()\n"
        "            out[path] = 'WROTE'\n"
        "        except OSError as exc:\n"
        "            out[path] = exc.errno\n"
        "    return out\n"
    )
    body, _ = attack(lam, code)
    import errno

    assert all(v in (errno.EROFS, errno.EACCES) for v in body.values()), body


def test_tmp_is_private_and_limited_to_ephemeral_storage(lam: Any) -> None:
    code = (
        "import errno, os\n"
        "def handler(event, context):\n"
        "    chunk = b'x' * (1 << 20)\n"
        "    written = 0\n"
        "    try:\n"
        "        with open('/tmp/fill', 'wb') as f:\n"
        "            for _ in range(event['mb']):\n"
        "                f.write(chunk); f.flush(); written += 1\n"
        "    except OSError as exc:\n"
        "        return {'errno': errno.errorcode[exc.errno], 'mb': written,\n"
        "                'others': sorted(os.listdir('/tmp'))}\n"
        "    return {'errno': None, 'mb': written}\n"
    )
    body, response = attack(lam, code, {"mb": 700}, MemorySize=1024, Timeout=60,
                            EphemeralStorage={"Size": 512})  # fmt: skip
    assert "FunctionError" not in response, body
    assert body["errno"] == "ENOSPC"
    assert 500 <= body["mb"] <= 512
    assert body["others"] == ["fill"]  # nobody else's files, and not the host's /tmp


def test_tmp_filling_memory_is_reported_clearly(
    lam: Any, hostile: FireboxServer, rootless: bool
) -> None:
    code = (
        "def handler(event, context):\n"
        "    with open('/tmp/fill', 'wb') as f:\n"
        "        for _ in range(400):\n"
        "            f.write(b'x' * (1 << 20)); f.flush()\n"
    )
    body, response = attack(lam, code, MemorySize=128, Timeout=60)
    if rootless and no_cgroup(hostile):
        # No cgroup to charge /tmp to: it is bounded by EphemeralStorage alone, as on AWS.
        assert "FunctionError" not in response, body
        return
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "/tmp" in body["errorMessage"]


def test_memory_limit_kills_and_says_so(lam: Any, hostile: FireboxServer, rootless: bool) -> None:
    code = (
        "def handler(event, context):\n"
        "    hog = []\n"
        "    while True:\n"
        "        hog.append(bytearray(8 << 20))\n"
    )
    body, response = attack(lam, code, MemorySize=128, Timeout=60)
    assert response["FunctionError"] == "Unhandled"
    if rootless and no_cgroup(hostile):
        # RLIMIT_DATA stands in: the allocation past MemorySize fails instead of a kill.
        assert body["errorType"] == "MemoryError", body
        log = __import__("base64").b64decode(response["LogResult"]).decode()
        used = int(__import__("re").search(r"Max Memory Used: (\d+) MB", log)[1])
        assert 100 <= used <= 128 + 48, log  # the process tree's own peaks (VmHWM)
        return
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "signal: killed" in body["errorMessage"]
    assert "out of memory" in body["errorMessage"]
    import base64
    import re

    log = base64.b64decode(response["LogResult"]).decode()
    used = int(re.search(r"Max Memory Used: (\d+) MB", log)[1])  # type: ignore[index]
    # The limit's 128 MB (enforced on what the environment is charged for) plus the runtime's
    # pages shared with its zygote, which REPORT counts too (see docs/compatibility.md).
    assert 120 <= used <= 128 + 32


def test_fork_bomb_hits_pids_limit(lam: Any) -> None:
    code = (
        "import errno, os, time\n"
        "def handler(event, context):\n"
        "    count = 0\n"
        "    while count < 5000:\n"
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError as exc:\n"
        "            return {'count': count, 'errno': errno.errorcode[exc.errno]}\n"
        "        if pid == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        count += 1\n"
        "    return {'count': count, 'errno': None}\n"
    )
    body, response = attack(lam, code, MemorySize=2048, Timeout=120)
    assert "FunctionError" not in response, body
    assert body["errno"] == "EAGAIN"
    assert 900 <= body["count"] < 1024


def test_cpu_is_limited_in_proportion_to_memory(
    lam: Any, hostile: FireboxServer, rootless: bool
) -> None:
    if rootless:  # no rlimit can share CPU out: the gap is reported, with what to do
        assert no_cgroup(hostile)
        return
    code = (
        "import os, threading, time\n"
        "def spin(until):\n"
        "    while time.time() < until:\n"
        "        pass\n"
        "def handler(event, context):\n"
        "    until = time.time() + 2\n"
        "    threads = [threading.Thread(target=spin, args=(until,)) for _ in range(4)]\n"
        "    [t.start() for t in threads]; [t.join() for t in threads]\n"
        "    t = os.times()\n"
        "    return t.user + t.system\n"
    )
    cpu_seconds, response = attack(lam, code, MemorySize=128, Timeout=30)
    assert "FunctionError" not in response
    # Unconfined, four spinning threads burn ~2 s per core; at 128 MB the quota is ~7 %.
    assert cpu_seconds < 0.6


def test_file_descriptors_are_limited(lam: Any) -> None:
    code = (
        "import errno\n"
        "def handler(event, context):\n"
        "    files = []\n"
        "    try:\n"
        "        for _ in range(5000):\n"
        "            files.append(open('/dev/null'))\n"
        "    except OSError as exc:\n"
        "        return [len(files), errno.errorcode[exc.errno]]\n"
        "    return [len(files), None]\n"
    )
    body, _ = attack(lam, code)
    assert body[1] == "EMFILE"
    assert 1000 <= body[0] < 1024


def test_platform_ports_and_host_network_are_unreachable(lam: Any, hostile: FireboxServer) -> None:
    code = (
        "import socket\n"
        "def gateway():\n"
        "    with open('/proc/net/route') as f:\n"
        "        hexa = next((l.split()[2] for l in list(f)[1:] if l.split()[1] == '00000000'),\n"
        "                    None)\n"
        "    return socket.inet_ntoa(bytes.fromhex(hexa)[::-1]) if hexa else '0.0.0.0'\n"
        "def handler(event, context):\n"
        "    out = {}\n"
        "    for host, port in event['targets']:\n"
        "        host = gateway() if host == 'GATEWAY' else host\n"
        "        try:\n"
        "            socket.create_connection((host, port), timeout=2).close()\n"
        "            out[f'{host}:{port}'] = 'CONNECTED'\n"
        "        except OSError as exc:\n"
        "            out[f'{host}:{port}'] = type(exc).__name__\n"
        "    return out\n"
    )
    # The server's port (on the host's loopback), through the environment's own loopback
    # and through its gateway, the server's bridge: both closed.
    targets = [["127.0.0.1", hostile.port], ["GATEWAY", hostile.port]]
    body, _ = attack(lam, code, {"targets": targets}, Timeout=20)
    assert len(body) == 2 and all(v != "CONNECTED" for v in body.values()), body


def test_the_aws_apis_are_in_reach_and_nothing_else(lam: Any, bystander: str) -> None:
    """AWS_ENDPOINT_URL leads every SDK inside to firebox's AWS APIs (and only those), signed
    with the environment's own credentials for its role: no other key works from inside."""
    code = (
        "import json, os, urllib.error, urllib.request, boto3\n"
        "from botocore.exceptions import ClientError\n"
        "def status(url, data=None):\n"
        "    try:\n"
        "        return urllib.request.urlopen(url, data=data, timeout=5).status\n"
        "    except urllib.error.HTTPError as exc:\n"
        "        return exc.code\n"
        "def handler(event, context):\n"
        "    endpoint = os.environ['AWS_ENDPOINT_URL']\n"
        "    out = {'endpoint': endpoint}\n"
        "    out['arn'] = boto3.client('sts').get_caller_identity()['Arn']\n"
        "    answer = boto3.client('lambda').invoke(FunctionName=event['other'])\n"
        "    out['other'] = json.loads(answer['Payload'].read())\n"
        "    # firebox's own API is not an AWS API: none of it is there.\n"
        "    out['admin'] = sorted({status(endpoint + p) for p in ('/_firebox/health',\n"
        "        '/_firebox/environments', '/_firebox/queue', '/_firebox/routes')})\n"
        "    # Unsigned, or signed with any other key: refused (open mode's `x` keys are the\n"
        "    # account's root outside; a function must not be).\n"
        "    out['unsigned'] = status(endpoint + '/2015-03-31/functions/')\n"
        "    other = boto3.client('lambda', aws_access_key_id='x', aws_secret_access_key='x',\n"
        "                         aws_session_token=None)\n"
        "    try:\n"
        "        other.list_functions()\n"
        "        out['x'] = 'ALLOWED'\n"
        "    except ClientError as exc:\n"
        "        out['x'] = exc.response['Error']['Code']\n"
        "    return out\n"
    )
    # (boto3 imported in the handler, at 128 MB's share of a CPU: not the default 3 s)
    name = create_function(lam, code, Role="arn:aws:iam::000000000000:role/app/reader",
                           Timeout=60)  # fmt: skip
    body, response = invoke_json(lam, name, {"other": bystander})
    assert "FunctionError" not in response, body
    assert body == {
        "endpoint": "http://127.0.0.1:8070",
        "arn": f"arn:aws:sts::000000000000:assumed-role/reader/{name}",
        "other": "still here",
        "admin": [404],
        "unsigned": 403,
        "x": "UnrecognizedClientException",
    }


def test_no_signals_ptrace_mount_or_unshare(lam: Any, rootless: bool) -> None:
    code = (
        "import ctypes, errno, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(fn, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    rc = fn(*args)\n"
        "    return errno.errorcode.get(ctypes.get_errno(), 'OK') if rc != 0 else 'SUCCEEDED'\n"
        "def handler(event, context):\n"
        "    out = {}\n"
        "    try:\n"
        "        os.kill(event['server_pid'], signal.SIGKILL); out['kill_server'] = 'SUCCEEDED'\n"
        "    except OSError as exc:\n"
        "        out['kill_server'] = type(exc).__name__\n"
        "    out['ptrace'] = call(libc.ptrace, 16, 1, None, None)\n"
        "    out['mount'] = call(libc.mount, b'none', b'/tmp', b'tmpfs', 0, None)\n"
        "    out['unshare'] = call(libc.unshare, 0x00020000)\n"
        "    out['unshare_user'] = call(libc.unshare, 0x10000000)\n"
        "    try:\n"
        "        os.setuid(0); out['setuid'] = 'SUCCEEDED'\n"
        "    except OSError as exc:\n"
        "        out['setuid'] = type(exc).__name__\n"
        "    out['procs'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "    return out\n"
    )
    assert hostile_pid() is not None
    body, _ = attack(lam, code, {"server_pid": hostile_pid()})
    assert body["kill_server"] == "ProcessLookupError"  # the server is not even visible
    for key in ("ptrace", "mount", "unshare", "unshare_user"):
        assert body[key] == "EPERM", (key, body)
    # Rootless, uid 0 is not even mapped in the runtime's user namespace: EINVAL.
    assert body["setuid"] in (("PermissionError", "OSError") if rootless else ("PermissionError",))
    assert body["procs"] == [1, 2]  # its init and itself: nothing of the host's


def hostile_pid() -> int | None:
    return _server_pid[0] if _server_pid else None


_server_pid: list[int] = []


@pytest.fixture(scope="module", autouse=True)
def _remember_server_pid(hostile: FireboxServer) -> None:
    assert hostile.proc is not None
    _server_pid.append(hostile.proc.pid)


def test_daemonised_child_dies_with_the_environment(lam: Any, rootless: bool) -> None:
    code = (
        "import os, subprocess\n"
        "def handler(event, context):\n"
        "    subprocess.Popen(['/bin/sleep', '1000'], start_new_session=True,\n"
        "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "    return 'left a daemon behind'\n"
    )
    name = create_function(lam, code)
    invoke_json(lam, name)
    # The runtime and its daemon; rootless without a cgroup only the daemon is found (by its
    # environment: a runtime forked from a zygote keeps the zygote's environment block).
    wait_for(lambda: len(runtime_processes(name)) >= (1 if rootless else 2))
    lam.delete_function(FunctionName=name)
    wait_for(lambda: not runtime_processes(name))


def test_server_survives_the_suite(lam: Any, hostile: FireboxServer, bystander: str) -> None:
    """Runs last in this module: the platform and its data are intact."""
    assert invoke_json(lam, bystander)[0] == "still here"
    assert lam.get_function_configuration(FunctionName=bystander)["FunctionName"] == bystander
    import sqlite3

    with sqlite3.connect(hostile.data_dir / "firebox.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    for name in names:
        if name != bystander:
            lam.delete_function(FunctionName=name)
    wait_for(lambda: not any(runtime_processes(n) for n in names if n != bystander))
    if hostile.prefix:
        return  # rootless: no bridge (outbound, where /dev/net/tun allows, is slirp4netns)
    # Every port on the server's bridge belongs to a live environment, a pre-built sandbox
    # waiting for one, or a network namespace made ahead: none outlives its sandbox.
    import httpx

    from test_network import bridge_of

    ports = Path("/sys/class/net", bridge_of(hostile), "brif")

    def accounted() -> bool:
        health = httpx.get(f"{hostile.url}/_firebox/health").json()
        waiting = health["prebuilt"] + health["netnsReady"]
        return len(list(ports.iterdir())) == len(hostile.environments()) + waiting

    wait_for(accounted)


def test_server_environment_does_not_leak_into_functions(lam: Any, hostile: FireboxServer) -> None:
    """A forked runtime's original environment block is readable: it must not be the server's."""
    # /proc/self/environ is closed to a non-dumpable process, but the block is in its memory.
    code = (
        "import ctypes\n"
        "def handler(event, context):\n"
        "    fields = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\n"
        "    start, end = int(fields[-3]), int(fields[-2])\n"
        "    return ctypes.string_at(start, end - start).decode('latin-1')\n"
    )
    body, response = attack(lam, code)
    assert "FunctionError" not in response, body
    assert "AWS_LAMBDA_FUNCTION_NAME" not in body or "PATH=" in body  # it read a real block
    assert hostile.secret not in body
    assert "PYENV" not in body and "HOME=" not in body


def test_start_up_says_which_protection_is_missing(hostile: FireboxServer, rootless: bool) -> None:
    """Isolated but without a cgroup (rootless here): the banner says so, and what to do."""
    log = hostile.log_path.read_text()
    if rootless:
        assert "*** firebox: no cgroups protection:" in log
        assert "*** what to do: run firebox in a delegated cgroup v2" in log
    else:
        assert "*** firebox: no " not in log and "ISOLATION IS OFF" not in log


def test_sandboxes_are_prebuilt_from_zygotes(hostile: FireboxServer, bystander: str) -> None:
    """As root and rootless alike, the reserve keeps sandboxes built ahead by a zygote (the
    reserve exists only with zygotes)."""
    wait_for(lambda: hostile.health()["prebuilt"] > 0)


def test_each_environment_has_its_own_uid(lam: Any, rootless: bool) -> None:
    code = "import os\ndef handler(event, context):\n    return os.getuid()\n"
    uids = {attack(lam, code)[0] for _ in range(3)}
    if rootless:  # one uid to map: 993 everywhere, each in a user namespace of its own
        assert uids == {993}
        return
    assert len(uids) == 3 and all(uid >= 100_000 for uid in uids)


def test_runtime_api_connection_flood_is_refused(lam: Any, hostile: FireboxServer) -> None:
    code = (
        "import os, socket, time\n"
        "KEPT = []  # still open after the handler returns, while the environment idles\n"
        "def handler(event, context):\n"
        "    for _ in range(900):\n"
        "        try:\n"
        "            KEPT.append(socket.create_connection(('127.0.0.1', 9001), timeout=1))\n"
        "        except OSError:\n"
        "            break\n"
        "    return len(KEPT)\n"
    )
    body, response = attack(lam, code, Timeout=60)
    assert "FunctionError" not in response, body
    # The server stays healthy: its descriptors were not spent on that function's sockets.
    import httpx

    assert httpx.get(f"{hostile.url}/_firebox/health").status_code == 200
    fds = len(os.listdir(f"/proc/{hostile.proc.pid}/fd"))  # type: ignore[union-attr]
    assert fds < 300, fds


def test_log_flood_is_rate_limited(lam: Any, hostile: FireboxServer) -> None:
    code = (
        "import sys, time\n"
        "def handler(event, context):\n"
        "    line = 'x' * 1023 + '\\n'\n"
        "    for _ in range(48 * 1024):\n"
        "        sys.stdout.write(line)\n"
        "    sys.stdout.flush()\n"
        "    time.sleep(1.5)\n"
        "    print('after the flood')\n"
    )
    before = (hostile.data_dir / "logs.sqlite3").stat().st_size
    name = create_function(lam, code, Timeout=60, MemorySize=1024)
    _, response = invoke_json(lam, name)
    assert "FunctionError" not in response
    import boto3

    logs = boto3.client("logs", endpoint_url=hostile.url, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip

    def notice() -> str | None:
        events = logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern="log output dropped"
        )["events"]
        return events[0]["message"] if events else None

    message = wait_for(notice)
    assert message.startswith("[firebox] ") and "bytes of log output dropped" in message
    grown = (hostile.data_dir / "logs.sqlite3").stat().st_size - before
    assert grown < 40 * 1024 * 1024  # 48 MB were printed; about the 16 MB burst is kept

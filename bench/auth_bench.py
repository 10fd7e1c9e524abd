"""What verifying signatures and deciding permissions cost on the warm invoke path.

Three servers in the same run, alternated round by round, each sent the same signed Invoke
request over a raw keep-alive connection (a signature stays valid for 15 minutes, so one
signed request is replayed: the client's signing cost is left out, the server's measured):
`--auth open` (the Authorization header is only parsed), `--auth sigv4` with a long-term key
(looked up, the signature recomputed with botocore's signer and compared), and `--auth sigv4
--iam enforce` signed with a role session's temporary credentials (the sealed token opened,
the signature checked, the role's policies and the function's resource policy decided), as
a function calling another does. The verifier, the session issuer (once per cold start) and
the IAM decision alone are also timed in-process.

    .venv/bin/python bench/auth_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from invoke_bench import ROOT, Server, commit, machine, summary, write_section

sys.path.insert(0, str(ROOT / "src"))
from firebox.auth.keys import KeyStore
from firebox.auth.sessions import SessionIssuer
from firebox.auth.sigv4 import SignedRequest, Verifier
from firebox.iam.authorizer import Authorizer
from firebox.iam.roles import Roles
from firebox.iam.store import SqliteRoleStore

LAMBDA = {"Service": "lambda.amazonaws.com"}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": LAMBDA}]})  # fmt: skip
INVOKE = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
                    "lambda:InvokeFunction", "Resource": "*"}]})  # fmt: skip


def signed_invoke(
    port: int, name: str, key_id: str, secret: str, token: str | None = None
) -> tuple[str, dict[str, str]]:
    path = f"/2015-03-31/functions/{name}/invocations"
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}{path}", data=b"{}")
    SigV4Auth(Credentials(key_id, secret, token), "lambda", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = f"127.0.0.1:{port}"
    return path, headers


def create(server: Server, key_id: str, secret: str) -> None:
    """The no-op function, created with a signed request (sigv4 refuses unsigned ones)."""
    from invoke_bench import NOOP, make_zip

    lam = client(server, "lambda", key_id, secret)
    lam.create_function(FunctionName="f", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench", MemorySize=1769,
                        Code={"ZipFile": make_zip(NOOP)})  # fmt: skip


def client(server: Server, service: str, key_id: str, secret: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{server.port}",
                        region_name="us-east-1", aws_access_key_id=key_id,
                        aws_secret_access_key=secret)  # fmt: skip


def role_session(server: Server, key_id: str, secret: str) -> tuple[str, str, str]:
    """Temporary credentials of a role allowed to invoke: what a function signs with."""
    iam = client(server, "iam", key_id, secret)
    iam.create_role(RoleName="caller", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="caller", PolicyName="invoke", PolicyDocument=INVOKE)
    sts = client(server, "sts", key_id, secret)
    arn = "arn:aws:iam::000000000000:role/caller"
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"]
    return creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]


def invoke(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn.request("POST", path, b"{}", headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def micro(fn: Callable[[], object]) -> float:
    """Microseconds per call: the median of 5 × 5,000."""
    fn()
    runs = [timeit.timeit(fn, number=5000) / 5000 for _ in range(5)]
    return statistics.median(runs) * 1e6


def in_process(key_id: str, secret: str, keys: Path, data: Path) -> dict[str, float]:
    """The verifier (long-term and temporary keys), the issuer and the IAM decision alone."""
    sessions = SessionIssuer(data)
    verifier = Verifier(KeyStore(keys), sessions, "sigv4")
    path, headers = signed_invoke(8070, "f", key_id, secret)
    request = SignedRequest("POST", path, "", [(k.lower(), v) for k, v in headers.items()], b"{}")
    temp = sessions.issue("arn:aws:sts::000000000000:assumed-role/bench/f", 3600)
    path, headers = signed_invoke(8070, "f", temp.access_key_id, temp.secret_access_key,
                                  temp.session_token)  # fmt: skip
    temporary = SignedRequest("POST", path, "", [(k.lower(), v) for k, v in headers.items()],
                              b"{}")  # fmt: skip
    roles = Roles(SqliteRoleStore(data / "iam.sqlite3"), "000000000000")
    roles.create("bench", TRUST)
    roles.put_policy("bench", "invoke", INVOKE)
    roles.attach("bench", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    authorizer = Authorizer(roles, "enforce")
    resource = "arn:aws:lambda:us-east-1:000000000000:function:f"
    return {
        "verify": micro(lambda: verifier.verify(request)),
        "verify_temporary": micro(lambda: verifier.verify(temporary)),
        "issue": micro(lambda: sessions.issue(temp.arn, 3600)),
        "decide": micro(lambda: authorizer.check(temp.arn, "lambda:InvokeFunction", resource)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    rounds, per_round = (3, 500) if options.quick else (6, 3000)
    data = Path(tempfile.mkdtemp(prefix="firebox-auth-bench-"))
    key = KeyStore(data / "sigv4").create("bench")
    role_key = KeyStore(data / "role").create("bench")
    servers = {
        "sigv4": Server("--auth", "sigv4", data=str(data / "sigv4")),
        "open": Server("--auth", "open", data=str(data / "open")),
        "role": Server("--auth", "sigv4", "--iam", "enforce", data=str(data / "role")),
    }
    samples: dict[str, list[float]] = {mode: [] for mode in servers}
    rounds_p50: dict[str, list[float]] = {mode: [] for mode in servers}
    try:
        requests = {}
        for mode, server in servers.items():
            long_term = role_key if mode == "role" else key
            create(server, long_term.access_key_id, long_term.secret_access_key)
            credentials: tuple[str, str, str | None] = (
                role_session(server, long_term.access_key_id, long_term.secret_access_key)
                if mode == "role" else (key.access_key_id, key.secret_access_key, None)
            )  # fmt: skip
            path, headers = signed_invoke(server.port, "f", *credentials)
            conn = http.client.HTTPConnection("127.0.0.1", server.port)
            for _ in range(100):
                invoke(conn, path, headers)
            requests[mode] = (conn, path, headers)
        for _ in range(rounds):
            for mode in servers:
                conn, path, headers = requests[mode]
                times = [invoke(conn, path, headers) for _ in range(per_round)]
                samples[mode] += times
                rounds_p50[mode].append(statistics.median(times))
    finally:
        for server in servers.values():
            server.stop()
    alone = in_process(key.access_key_id, key.secret_access_key, data / "sigv4", data / "micro")
    rows = []
    for mode, label in (("open", "`--auth open`"), ("sigv4", "`--auth sigv4`, long-term key"),
                        ("role", "`--auth sigv4 --iam enforce`, role session")):  # fmt: skip
        stats = summary(samples[mode])
        per_round_text = " / ".join(f"{v:.3f}" for v in rounds_p50[mode])
        rows.append(f"| {label} | {stats['p50']:.3f} ms | {stats['p99']:.3f} ms | "
                    f"{per_round_text} ms |")  # fmt: skip
    text = (
        f"Measured {datetime.date.today()} at commit `{commit()}` on {machine()}: {rounds} "
        f"alternated rounds of {per_round} warm invokes of a no-op function per server, the "
        "same signed request replayed over a raw keep-alive connection.\n\n"
        "| server | p50 | p99 | p50 of each round |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nIn-process, median of 5 × 5,000: the verifier "
        f"{alone['verify']:.1f} µs per signed Invoke with a long-term key and "
        f"{alone['verify_temporary']:.1f} µs with a role session's sealed credentials; issuing "
        f"an environment's credentials (once per cold start) {alone['issue']:.1f} µs; deciding "
        f"a role session's call (an inline and a managed policy) {alone['decide']:.1f} µs."
    )
    print(text)
    if not options.no_write:
        write_section("auth-bench", text)


if __name__ == "__main__":
    main()

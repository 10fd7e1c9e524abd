"""What verifying signatures costs on the warm invoke path: `--auth sigv4` vs `--auth open`.

Two servers in the same run, alternated round by round, each sent the same signed Invoke
request over a raw keep-alive connection (a signature stays valid for 15 minutes, so one
signed request is replayed: the client's signing cost is left out, the server's measured).
In open mode the server only parses the Authorization header; in sigv4 mode it looks the key
up, recomputes the signature with botocore's signer and compares. The verifier alone is
also timed in-process.

    .venv/bin/python bench/auth_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from invoke_bench import ROOT, Server, commit, machine, summary, write_section

sys.path.insert(0, str(ROOT / "src"))
from firebox.auth.keys import KeyStore
from firebox.auth.sessions import SessionIssuer
from firebox.auth.sigv4 import SignedRequest, Verifier


def signed_invoke(port: int, name: str, key_id: str, secret: str) -> tuple[str, dict[str, str]]:
    path = f"/2015-03-31/functions/{name}/invocations"
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}{path}", data=b"{}")
    SigV4Auth(Credentials(key_id, secret), "lambda", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = f"127.0.0.1:{port}"
    return path, headers


def create(server: Server, key_id: str, secret: str) -> None:
    """The no-op function, created with a signed request (sigv4 refuses unsigned ones)."""
    import boto3

    from invoke_bench import NOOP, make_zip

    lam = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{server.port}",
                       region_name="us-east-1", aws_access_key_id=key_id,
                       aws_secret_access_key=secret)  # fmt: skip
    lam.create_function(FunctionName="f", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench", MemorySize=1769,
                        Code={"ZipFile": make_zip(NOOP)})  # fmt: skip


def invoke(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn.request("POST", path, b"{}", headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def verifier_alone(key_id: str, secret: str, data: Path) -> float:
    """Microseconds for one verification of a signed Invoke, in-process."""
    verifier = Verifier(KeyStore(data), SessionIssuer(data), "sigv4")
    path, headers = signed_invoke(8070, "f", key_id, secret)
    request = SignedRequest("POST", path, "", [(k.lower(), v) for k, v in headers.items()], b"{}")
    verifier.verify(request)
    runs = [timeit.timeit(lambda: verifier.verify(request), number=5000) / 5000 for _ in range(5)]
    return statistics.median(runs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()
    rounds, per_round = (3, 500) if options.quick else (6, 3000)
    data = Path(tempfile.mkdtemp(prefix="firebox-auth-bench-"))
    key = KeyStore(data / "sigv4").create("bench")
    servers = {
        "sigv4": Server("--auth", "sigv4", data=str(data / "sigv4")),
        "open": Server("--auth", "open", data=str(data / "open")),
    }
    samples: dict[str, list[float]] = {mode: [] for mode in servers}
    rounds_p50: dict[str, list[float]] = {mode: [] for mode in servers}
    try:
        requests = {}
        for mode, server in servers.items():
            create(server, key.access_key_id, key.secret_access_key)
            path, headers = signed_invoke(server.port, "f", key.access_key_id,
                                          key.secret_access_key)  # fmt: skip
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
    alone = verifier_alone(key.access_key_id, key.secret_access_key, data / "sigv4")
    rows = []
    for mode, label in (("sigv4", "`--auth sigv4` (verified)"), ("open", "`--auth open`")):
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
        + f"\n\nThe verifier alone, in-process: {alone:.1f} µs per signed Invoke "
        "(median of 5 × 5,000)."
    )
    print(text)
    if not options.no_write:
        write_section("auth-bench", text)


if __name__ == "__main__":
    main()

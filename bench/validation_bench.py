"""What checking every request against its operation's model costs on the warm invoke path.

Two servers in the same run, alternated round by round: firebox as it ships, and the same
firebox with the model check switched off (started through a launcher that replaces each
operation's checker with a no-op; nothing else differs: body caps, strict JSON, the edge).
Also times the checker alone, in-process, on an Invoke and on a CreateFunction request.

    .venv/bin/python bench/validation_bench.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from invoke_bench import NOOP, Server, commit, machine, make_zip, raw_invoke, summary, write_section

UNCHECKED = '''\
"""firebox with every operation's model check replaced by a no-op (for this benchmark only)."""
import sys

from firebox.api import operation

_build = operation._Plan.build.__func__


def _unchecked(cls, service, model):
    plan = _build(cls, service, model)
    plan.check = lambda value, path, out: None
    return plan


operation._Plan.build = classmethod(_unchecked)
from firebox.cli.main import main  # noqa: E402

sys.argv[0] = "firebox"
main()
'''


def checker_cost(repeat: int) -> dict[str, float]:
    """Microseconds per check of typical requests, in-process."""
    from firebox.api.model import operation_model
    from firebox.api.validation import Compiler

    compiler = Compiler()
    invoke = compiler.checker(operation_model("lambda", "Invoke").input_shape)
    create = compiler.checker(operation_model("lambda", "CreateFunction").input_shape)
    invoke_params = {"FunctionName": "noop", "InvocationType": "RequestResponse",
                     "LogType": "None", "Payload": b"{}"}  # fmt: skip
    create_params = {
        "FunctionName": "f", "Runtime": "python3.11", "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler", "Code": {"ZipFile": base64.b64encode(make_zip(NOOP)).decode()},
        "Timeout": 3, "MemorySize": 128, "Environment": {"Variables": {"MODE": "bench"}},
        "Tags": {"team": "x"}, "Architectures": ["x86_64"],
    }  # fmt: skip
    out: list[Any] = []
    results = {}
    for label, check, params in (("Invoke", invoke, invoke_params),
                                 ("CreateFunction", create, create_params)):  # fmt: skip
        timer = timeit.Timer(lambda c=check, p=params: c(p, "", out))  # type: ignore[misc]
        runs = [timer.timeit(repeat) / repeat * 1e6 for _ in range(7)]
        results[label] = statistics.median(runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rounds, per_round = (3, 500) if args.quick else (6, 3000)
    launcher = Path(tempfile.mkdtemp(prefix="firebox-unchecked-")) / "unchecked.py"
    launcher.write_text(UNCHECKED)
    servers = {
        "checked (as shipped)": Server("--keep-alive", "10m"),
        "model check off": Server("--keep-alive", "10m", command=[sys.executable, str(launcher)]),
    }
    samples: dict[str, list[float]] = {label: [] for label in servers}
    rounds_p50: dict[str, list[float]] = {label: [] for label in servers}
    try:
        conns = {}
        for label, server in servers.items():
            server.create("noop", memory=1769)  # a full vCPU: the platform's cost, not a quota
            conns[label] = http.client.HTTPConnection("127.0.0.1", server.port)
            for _ in range(200):
                raw_invoke(conns[label], "noop")
        for _ in range(rounds):  # alternated: drift on the host hits both alike
            for label in servers:
                times = [raw_invoke(conns[label], "noop") for _ in range(per_round)]
                samples[label] += times
                rounds_p50[label].append(statistics.median(times))
    finally:
        for server in servers.values():
            server.stop()
    micro = checker_cost(20000)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} at commit `{commit()}` on {machine()}: "
        f"{rounds} alternated rounds of {per_round} warm invokes (raw keep-alive HTTP client, "
        "no-op handler) against each server.",
        "",
        "| server | p50 | p99 | p50 of each round |",
        "|---|---|---|---|",
    ]
    for label in servers:
        s = summary(samples[label])
        each = " / ".join(f"{v:.3f}" for v in rounds_p50[label])
        lines.append(f"| {label} | {s['p50']:.3f} ms | {s['p99']:.3f} ms | {each} ms |")
    lines += [
        "",
        f"The checker alone, in-process: {micro['Invoke']:.1f} µs for an Invoke request, "
        f"{micro['CreateFunction']:.1f} µs for a CreateFunction request (median of 7 × 20,000).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("validation-bench", text)


if __name__ == "__main__":
    main()

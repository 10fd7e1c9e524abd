"""The table of every Lambda API operation and whether firebox serves it, from botocore's model.

    python scripts/lambda_operations.py            # print the table
    python scripts/lambda_operations.py --write    # put it into docs/compatibility.md
    python scripts/lambda_operations.py --check    # exit 1 if the docs are out of date

An operation counts as served when one of the server's routes takes its method and path (see
firebox.api.app.api_routes); tests/test_operations.py checks that against a running server.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from starlette.routing import Match

from firebox.api.app import api_routes
from firebox.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "compatibility.md"
START, END = "<!-- lambda-operations:start -->", "<!-- lambda-operations:end -->"
_PARAM = re.compile(r"\{([^}]+?)\+?\}")


@dataclass(frozen=True)
class Operation:
    """One operation of the model: its name and where its requests go."""

    name: str
    method: str
    uri: str  # as the model writes it: /2015-03-31/functions/{FunctionName}/...?List=ALL

    def sample(self) -> tuple[str, str]:
        """A path and query string of a real request, the parameters filled in."""
        path, _, query = self.uri.partition("?")
        return _PARAM.sub(lambda m: _value(m[1]), path), query


def _value(param: str) -> str:
    if param.endswith(("Arn", "ARN")) or param == "Resource":
        return "arn:aws:lambda:us-east-1:000000000000:function:x"
    return "1" if param == "VersionNumber" else "x"


def operations() -> list[Operation]:
    model = botocore.session.get_session().get_service_model("lambda")
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        found.append(Operation(name, http["method"], http["requestUri"]))
    return found


def served(operation: Operation) -> bool:
    """Whether a route of the server takes the operation's method and path."""
    path, _ = operation.sample()
    scope = {"type": "http", "path": path, "method": operation.method, "root_path": ""}
    routes = api_routes(Settings().http_prefix)
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def table() -> str:
    ops = operations()
    done = sum(served(op) for op in ops)
    rows = [
        f"| {op.name} | `{op.method} {op.uri}` | {'implemented' if served(op) else 'not yet'} |"
        for op in ops
    ]
    version = botocore.__version__  # type: ignore[attr-defined]
    head = (
        f"firebox serves {done} of the {len(ops)} operations in botocore {version}'s model of "
        "the Lambda API. Every other one is answered with `UnknownOperationException` (HTTP "
        "404), which botocore raises as a `ClientError`.\n\n"
        "| operation | request | firebox |\n|---|---|---|"
    )
    return "\n".join([head, *rows])


def document(text: str) -> str:
    """The compatibility page with the table between its markers replaced."""
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{DOC} has no {START} … {END} markers")
    return f"{before}{START}\n{table()}\n{END}{after}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        DOC.write_text(document(DOC.read_text()))
    elif "--check" in argv:
        if document(DOC.read_text()) != DOC.read_text():
            print(f"{DOC} is out of date: run python scripts/lambda_operations.py --write")
            return 1
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

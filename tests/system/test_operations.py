"""The table of Lambda API operations in docs/compatibility.md: current, and true of a server."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from support import FireboxServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import lambda_operations


@pytest.mark.without_root
def test_the_table_in_the_docs_is_current() -> None:
    text = lambda_operations.DOC.read_text()
    assert lambda_operations.document(text) == text, (
        "docs/compatibility.md is out of date: run python scripts/lambda_operations.py --write"
    )


def test_every_operation_is_served_or_refused_as_the_table_says(server: FireboxServer) -> None:
    """Each operation of the model, called on a running server: those the table lists as not
    yet get UnknownOperationException; the others reach a handler (which may well say the
    function does not exist, or that the request is invalid: either is not "unknown")."""
    wrong = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for op in lambda_operations.operations():
            path, query = op.sample()
            body = b"{}" if op.method in ("POST", "PUT") else None
            url = path + (f"?{query}" if query else "")
            headers = {"Content-Type": "application/json"}
            response = client.request(op.method, url, content=body, headers=headers)
            unknown = response.headers.get("x-amzn-errortype") == "UnknownOperationException"
            if unknown == lambda_operations.served(op):
                wrong.append(f"{op.name}: {response.status_code} {response.text[:100]}")
    assert not wrong, wrong

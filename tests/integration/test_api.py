"""The Lambda API driven in-process: the ASGI app over a real platform, no server, no root.

Functions run as plain processes (`--sandbox process`): what is tested here is the path from
an HTTP request through the API layer and the core and back, with AWS's shapes and errors.
"""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx

from firebox.api.app import create_app
from firebox.config import Settings
from firebox.platform import Platform

FUNCTIONS = "/2015-03-31/functions"
ECHO = "def handler(event, context):\n    print('echo', event)\n    return {'got': event}\n"


def _zip(source: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return base64.b64encode(buf.getvalue()).decode()


def _create_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"FunctionName": name, "Runtime": "python3.11", "Handler": "app.handler",
            "Role": "arn:aws:iam::000000000000:role/x", "Code": {"ZipFile": _zip(ECHO)},
            **extra}  # fmt: skip


async def _client(tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp / "data", sandbox="process", zygote=False, pool_size=0,
                        netns_reserve=0, precompile=False, concurrency_limit=10)  # fmt: skip
    platform = Platform(settings)
    platform.start()
    try:
        transport = httpx.ASGITransport(app=create_app(platform))
        async with httpx.AsyncClient(transport=transport, base_url="http://firebox") as client:
            yield client
    finally:
        await platform.close()


def in_app(test: Callable[[httpx.AsyncClient], Coroutine[Any, Any, None]], tmp: Path) -> None:
    """Runs `test` with a client of an app whose platform lives as long as it."""

    async def go() -> None:
        async for client in _client(tmp):
            await test(client)

    asyncio.run(go())


def test_create_invoke_and_delete(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        created = await client.post(FUNCTIONS, json=_create_body("echo", MemorySize=256))
        assert created.status_code == 201, created.text
        config = created.json()
        assert config["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
        assert config["MemorySize"] == 256 and config["State"] == "Active"
        invoked = await client.post(f"{FUNCTIONS}/echo/invocations", content=b'{"n": 1}',
                                    headers={"X-Amz-Log-Type": "Tail"})  # fmt: skip
        assert invoked.status_code == 200 and invoked.json() == {"got": {"n": 1}}
        assert invoked.headers["x-amz-executed-version"] == "$LATEST"
        tail = base64.b64decode(invoked.headers["x-amz-log-result"]).decode()
        assert "echo {'n': 1}" in tail and "REPORT RequestId" in tail
        assert (await client.delete(f"{FUNCTIONS}/echo")).status_code == 204
        gone = await client.get(f"{FUNCTIONS}/echo")
        assert gone.status_code == 404
        assert gone.headers["x-amzn-errortype"] == "ResourceNotFoundException"

    in_app(test, tmp_path)


def test_errors_come_in_aws_shapes(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        def error(response: httpx.Response) -> tuple[int, str, str]:
            return (response.status_code, response.headers["x-amzn-errortype"],
                    response.json()["Message"])  # fmt: skip

        bad_json = await client.post(FUNCTIONS, content=b"{not json")
        assert error(bad_json)[:2] == (400, "InvalidRequestContentException")
        too_long = await client.post(FUNCTIONS, json=_create_body("f", Timeout=901))
        assert error(too_long) == (
            400, "ValidationException",
            "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
            "Member must have value less than or equal to 900",
        )  # fmt: skip
        unknown = await client.post("/2020-04-22/code-signing-configs/", json={})
        assert error(unknown)[:2] == (404, "UnknownOperationException")
        listed = await client.get(FUNCTIONS)
        assert listed.json()["Functions"] == []  # nothing was stored by the bad requests

    in_app(test, tmp_path)


def test_versions_aliases_and_logs(tmp_path: Path) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        await client.post(FUNCTIONS, json=_create_body("f", Publish=True))
        alias = await client.post(f"{FUNCTIONS}/f/aliases",
                                  json={"Name": "live", "FunctionVersion": "1"})  # fmt: skip
        assert alias.status_code == 201 and alias.json()["AliasArn"].endswith(":f:live")
        invoked = await client.post(f"{FUNCTIONS}/f/invocations?Qualifier=live", content=b"{}")
        assert invoked.headers["x-amz-executed-version"] == "1"
        headers = {"X-Amz-Target": "Logs_20140328.FilterLogEvents",
                   "Content-Type": "application/x-amz-json-1.1"}  # fmt: skip
        logs = await client.post("/", json={"logGroupName": "/aws/lambda/f"}, headers=headers)
        messages = [e["message"] for e in logs.json()["events"]]
        assert any(m.startswith("START RequestId") and "Version: 1" in m for m in messages)

    in_app(test, tmp_path)

"""An environment's credentials: its execution role's session, renewed before they end.

In-process (process sandboxes, no root): the pool's clock is moved forward instead of waiting
hours for credentials to near their end.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from firebox.api.app import create_app
from firebox.auth.sessions import ENVIRONMENT_CREDENTIALS_S
from firebox.config import Settings
from firebox.platform import Platform
from firebox.worker.pool import RENEW_S

FUNCTIONS = "/2015-03-31/functions"
SHOW = (
    "import os\n"
    "def handler(event, context):\n"
    "    return {k: os.environ.get(k) for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',\n"
    "            'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL')}\n"
)


def _zip(source: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return base64.b64encode(buf.getvalue()).decode()


def test_environments_get_role_credentials_renewed_before_they_end(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", sandbox="process", zygote=False, pool_size=0,
                        netns_reserve=0, precompile=False, port=8123)  # fmt: skip

    async def go() -> None:
        platform = Platform(settings)
        platform.start()
        try:
            app = create_app(platform)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                body = {"FunctionName": "show", "Runtime": "python3.11", "Handler": "app.handler",
                        "Role": "arn:aws:iam::123456789012:role/service-role/reader",
                        "Code": {"ZipFile": _zip(SHOW)}}  # fmt: skip
                assert (await client.post(FUNCTIONS, json=body)).status_code == 201

                async def invoke() -> dict[str, Any]:
                    response = await client.post(f"{FUNCTIONS}/show/invocations", content=b"{}")
                    result: dict[str, Any] = response.json()
                    return result

                first = await invoke()
                assert first["AWS_ACCESS_KEY_ID"].startswith("ASIA")
                # A process sandbox reaches the server's own port.
                assert first["AWS_ENDPOINT_URL"] == "http://127.0.0.1:8123"
                key = platform.sessions.open(first["AWS_ACCESS_KEY_ID"], first["AWS_SESSION_TOKEN"])
                assert key is not None
                assert key.arn == "arn:aws:sts::123456789012:assumed-role/reader/show"
                assert key.secret_access_key == first["AWS_SECRET_ACCESS_KEY"]
                assert abs(key.expires - (time.time() + ENVIRONMENT_CREDENTIALS_S)) < 60
                assert (await invoke()) == first  # warm: the same environment, same credentials
                # Later, with less than RENEW_S of them left: a fresh environment, fresh keys.
                later = time.time() + ENVIRONMENT_CREDENTIALS_S - RENEW_S + 1
                platform.pool.clock = lambda: later
                renewed = await invoke()
                assert renewed["AWS_ACCESS_KEY_ID"] != first["AWS_ACCESS_KEY_ID"]
                # That new environment's own renewal point is already past by this clock: its
                # timer retires it as soon as it is idle, with no invoke needed.
                for _ in range(100):
                    if not platform.pool.environments():
                        break
                    await asyncio.sleep(0)
                assert platform.pool.environments() == []
                platform.pool.clock = time.time  # back to now: environments are kept again
                await invoke()
                assert len(platform.pool.environments()) == 1
        finally:
            await platform.close()

    asyncio.run(go())

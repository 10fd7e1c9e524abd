"""firebox's own endpoints under /_firebox: health, environments, code downloads."""

from __future__ import annotations

import dataclasses
import re

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from firebox import __version__
from firebox.api.functions import _platform
from firebox.api.responses import aws_json
from firebox.domain.errors import ResourceNotFoundException

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


async def health(request: Request) -> Response:
    platform = _platform(request)
    return aws_json(
        {
            "status": "ok",
            "version": __version__,
            "sandbox": platform.sandboxes.name,
            "protections": platform.sandbox_choice.as_json(),
            "runtimes": platform.runtimes.available(),
            "environments": len(platform.pool.environments()),
            "busy": platform.pool.busy,
            "prebuilt": platform.prebuilt(),
            "netnsReady": platform.netns_ready(),
            "subnet": platform.subnet(),
            "concurrencyLimit": platform.admission.concurrency_limit,
            "account": platform.settings.account_id,
            "region": platform.settings.region,
        }
    )


async def environments(request: Request) -> Response:
    envs = _platform(request).pool.environments()
    return aws_json({"Environments": [dataclasses.asdict(e) for e in envs]})


async def code_zip(request: Request) -> Response:
    sha = request.path_params["sha"]
    path = _platform(request).code.zip_path(sha) if _SHA_RE.match(sha) else None
    if path is None or not path.is_file():
        raise ResourceNotFoundException("No such code package")
    return FileResponse(path, media_type="application/zip", filename=f"{sha}.zip")


async def prometheus_metrics(request: Request) -> Response:
    """Prometheus's scrape: every function's, queue's, topic's and bucket's metrics."""
    body = generate_latest(_platform(request).prometheus)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/_firebox/health", health, methods=["GET"]),
    Route("/metrics", prometheus_metrics, methods=["GET"]),
    Route("/_firebox/environments", environments, methods=["GET"]),
    Route("/_firebox/code/{sha}.zip", code_zip, methods=["GET"]),
]

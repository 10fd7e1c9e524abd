"""A small HTTP client of the firebox API for the CLI: typed errors, one-line failures."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

DEFAULT_ENDPOINT = "http://127.0.0.1:8070"
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Parses 90, 30s, 10m, 2h, 1d into seconds."""
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise click.BadParameter(f"'{text}' is not a duration like 30s, 10m, 2h or 1d")
    return float(match[1]) * _UNITS[match[2]]


endpoint_option = click.option(
    "--endpoint",
    envvar="FIREBOX_ENDPOINT",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="The firebox server (or FIREBOX_ENDPOINT).",
)


class CliError(click.ClickException):
    """An error printed as one line, with a non-zero exit."""

    def format_message(self) -> str:
        return self.message


def _credentials_configured() -> bool:
    """Whether AWS credentials may be configured: variables, or the shared files."""
    if any(os.environ.get(name) for name in (
            "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")):  # fmt: skip
        return True
    home = Path.home() / ".aws"
    files = (os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / "credentials"),
             os.environ.get("AWS_CONFIG_FILE") or str(home / "config"))  # fmt: skip
    return any(Path(f).is_file() for f in files)


# The JSON services the CLI calls: X-Amz-Target prefix → (SigV4 service, content type).
_JSON_TARGETS = {
    "Logs_20140328": ("logs", "application/x-amz-json-1.1"),
    "AmazonSQS": ("sqs", "application/x-amz-json-1.0"),
    "GraniteServiceVersion20100801": ("monitoring", "application/x-amz-json-1.0"),
}


class ApiClient:
    """Signs its requests (SigV4) when AWS credentials are configured, as the SDKs do."""

    def __init__(self, endpoint: str, timeout: float = 930.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._http = httpx.Client(base_url=self.endpoint, timeout=timeout)
        self._credentials: Any = None
        self._looked = False

    def _sign(self, method: str, url: httpx.URL, headers: dict[str, str], body: bytes) -> None:
        """Adds a SigV4 signature (service from the target: logs or lambda) to `headers`."""
        if not self._looked:
            self._looked = True
            if _credentials_configured():  # (botocore's chain would probe the network too)
                import botocore.session

                self._session = botocore.session.get_session()
                self._credentials = self._session.get_credentials()
        if self._credentials is None:
            return  # unsigned: fine for a server in open mode
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        target = headers.get("X-Amz-Target", "")
        service = _JSON_TARGETS.get(target.partition(".")[0], ("lambda", ""))[0]
        region = self._session.get_config_variable("region") or "us-east-1"
        aws = AWSRequest(method=method, url=str(url), data=body, headers=dict(headers))
        SigV4Auth(self._credentials.get_frozen_credentials(), service, region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in aws.headers:
                headers[name] = aws.headers[name]

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        url = httpx.URL(self.endpoint + path, params=params)
        self._sign(method, url, headers, content or b"")
        try:
            response = self._http.request(method, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach firebox at {self.endpoint} ({exc.__class__.__name__}): "
                "is `firebox serve` running? (set --endpoint or FIREBOX_ENDPOINT)"
            ) from None
        if response.status_code >= 400:
            self._fail(response)
        return response

    def _fail(self, response: httpx.Response) -> None:
        """Raises the error an answer carries, as one line."""
        error_type = response.headers.get("x-amzn-ErrorType", f"HTTP {response.status_code}")
        try:
            body = response.json()
            message = body.get("message") or body.get("Message") or response.text
            error_type = str(body.get("__type", error_type)).rsplit("#", 1)[-1]
        except ValueError:
            message = response.text
        raise CliError(f"{error_type}: {message}")

    def stream_lines(self, method: str, path: str, content: bytes | None = None) -> Iterator[Any]:
        """A response of JSON lines (a stack's progress), each decoded as it arrives."""
        headers = {"Content-Type": "application/json"}
        url = httpx.URL(self.endpoint + path)
        self._sign(method, url, headers, content or b"")
        try:
            with self._http.stream(method, url, content=content, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    self._fail(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise CliError(
                f"lost firebox at {self.endpoint} ({exc.__class__.__name__}): the operation "
                "goes on there; `firebox info` shows how it ended"
            ) from None

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _target(self, prefix: str, operation: str, body: dict[str, Any]) -> Any:
        """A call of an AWS JSON service (`X-Amz-Target: <prefix>.<operation>`), as the SDKs
        make it."""
        return self.json(
            "POST",
            "/",
            content=json.dumps(body).encode(),
            headers={
                "X-Amz-Target": f"{prefix}.{operation}",
                "Content-Type": _JSON_TARGETS[prefix][1],
            },
        )

    def logs(self, operation: str, body: dict[str, Any]) -> Any:
        return self._target("Logs_20140328", operation, body)

    def cloudwatch(self, operation: str, body: dict[str, Any]) -> Any:
        return self._target("GraniteServiceVersion20100801", operation, body)

    def sqs(self, operation: str, body: dict[str, Any]) -> Any:
        return self._target("AmazonSQS", operation, body)

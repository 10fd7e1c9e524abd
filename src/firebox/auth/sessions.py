"""Temporary credentials that carry their own identity: sealed session tokens.

A session token names its access key, the role session it belongs to and when it expires,
and ends in an HMAC of all that under the server's session key (`<data>/session-key`, 0600).
The secret access key is derived from the same key and the access key id. So issuing
credentials (AssumeRole, and one set per execution environment on every cold start) writes
nothing, and checking them needs only the token the SDK sends with each request, as AWS's
own session tokens do. They cannot be revoked before they expire, as on AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from firebox.auth.keys import AccessKey

KEY_FILE = "session-key"
# An execution environment's credentials: as long as an IAM role session may last; the pool
# replaces an environment before they end (worker/pool.py RENEW_S).
ENVIRONMENT_CREDENTIALS_S = 12 * 3600
PREFIX = "FBX1."  # marks a sealed token (and its format's version)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def role_session_arn(role_arn: str, session: str, account: str) -> str:
    """The assumed-role ARN of `session` of the role `role_arn` (in its own account, else
    `account`); a role ARN firebox cannot read gives a role named after its last segment."""
    parts = role_arn.split(":", 5)
    if len(parts) == 6 and parts[4]:
        account = parts[4]
    role = role_arn.rsplit("/", 1)[-1] or "unknown"
    return f"arn:aws:sts::{account}:assumed-role/{role}/{session}"


class SessionIssuer:
    """Issues and opens sealed temporary credentials with one data dir's session key."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = data_dir / KEY_FILE
        self._clock = clock
        self._key: bytes | None = None
        self._opened: dict[str, AccessKey] = {}  # token → credentials, for warm callers

    def _master(self) -> bytes:
        if self._key is None:
            self._key = _load_or_create(self.path)
        return self._key

    def issue(self, arn: str, duration_s: int, description: str = "assumed role") -> AccessKey:
        """Credentials for the role session `arn`, valid for `duration_s` from now."""
        now = int(self._clock())
        akid = "ASIA" + base64.b32encode(secrets.token_bytes(10)).decode()  # 16 of A-Z2-7
        body = _b64(json.dumps({"k": akid, "a": arn, "e": now + duration_s, "i": now},
                               separators=(",", ":")).encode())  # fmt: skip
        mac = _b64(hmac.new(self._master(), body.encode(), hashlib.sha256).digest())
        return AccessKey(akid, self._secret(akid), now, description, f"{PREFIX}{body}.{mac}",
                         now + duration_s, arn)  # fmt: skip

    def open(self, access_key_id: str, token: str) -> AccessKey | None:
        """The credentials `token` seals, if it is genuine and names `access_key_id`
        (expired ones included: the caller says ExpiredToken)."""
        cached = self._opened.get(token)
        if cached is not None:
            return cached if cached.access_key_id == access_key_id else None
        if not token.startswith(PREFIX):
            return None
        body, _, mac = token[len(PREFIX) :].partition(".")
        expected = _b64(hmac.new(self._master(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode("latin-1", "replace"), expected.encode()):
            return None
        try:
            claims = json.loads(_unb64(body))
            akid, arn, expires, issued = claims["k"], claims["a"], claims["e"], claims["i"]
        except (ValueError, KeyError, TypeError):
            return None
        if akid != access_key_id:
            return None
        key = AccessKey(akid, self._secret(akid), issued, "", token, expires, arn)
        if len(self._opened) > 4096:
            self._opened.clear()
        self._opened[token] = key
        return key

    def _secret(self, access_key_id: str) -> str:
        digest = hmac.new(self._master(), b"secret:" + access_key_id.encode(), hashlib.sha256)
        return _b64(digest.digest())[:40]


def _load_or_create(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        pass
    else:
        if len(data) != 32:  # never sign with a key someone could guess (an empty file)
            raise OSError(f"{path} is not a session key (32 bytes): remove it to make a new one")
        return data
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    partial = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    try:
        # Two processes starting at once: the first one's key wins, and both use it.
        os.link(partial, path)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise OSError(f"{path} is not a session key (32 bytes)") from None
    finally:
        os.unlink(partial)
    return key

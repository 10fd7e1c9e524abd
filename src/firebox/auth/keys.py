"""Access keys firebox accepts: a JSON file in the data dir, readable by firebox alone.

SigV4 proves a caller knows a secret by signing with it, so the verifier needs the secret
itself (not a hash): the file is created with mode 0600 and rewritten atomically.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "access-keys.json"
_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class AccessKey:
    """One access key pair and when it was made."""

    access_key_id: str
    secret_access_key: str
    created: int  # epoch seconds
    description: str = ""
    # Temporary credentials (auth/sessions.py): the token they must be presented with, when
    # they stop working (epoch seconds) and whose they are.
    session_token: str = ""
    expires: int = 0
    arn: str = ""


class KeyStore:
    """The key file of one data dir; re-read when another process (the CLI) changes it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self._keys: dict[str, AccessKey] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._checked = 0.0

    def get(self, access_key_id: str) -> AccessKey | None:
        """The key, as the file says: re-read at once for a key not seen yet, and at most
        once a second otherwise (a revoked key stops working within a second)."""
        now = time.monotonic()
        if access_key_id not in self._keys or now - self._checked > 1.0:
            self._checked = now
            self._refresh()
        return self._keys.get(access_key_id)

    def list(self) -> list[AccessKey]:
        """The long-term keys (temporary credentials are not listed)."""
        self._refresh()
        return sorted((k for k in self._keys.values() if not k.session_token),
                      key=lambda k: k.created)  # fmt: skip

    def create(self, description: str = "") -> AccessKey:
        """A new key pair, shaped like AWS's (AKIA + 16, 40-character secret)."""
        key = AccessKey(
            "AKIA" + "".join(secrets.choice(_ALPHABET) for _ in range(16)),
            secrets.token_urlsafe(30)[:40],
            int(time.time()),
            description,
        )
        with self._lock:
            self._refresh(force=True)
            self._keys[key.access_key_id] = key
            self._write()
        return key

    def delete(self, access_key_id: str) -> bool:
        with self._lock:
            self._refresh(force=True)
            if self._keys.pop(access_key_id, None) is None:
                return False
            self._write()
        return True

    def _refresh(self, force: bool = False) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._keys, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if not force and stamp == self._stamp:
            return
        data = json.loads(self.path.read_text() or "{}")
        self._keys = {k["access_key_id"]: AccessKey(**k) for k in data.get("keys", [])}
        self._stamp = stamp

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": [asdict(k) for k in self._keys.values()]}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, self.path)
        self._stamp = None  # re-read next time (mtime granularity)

"""Sealed session credentials: what a token proves, and what it must not."""

from __future__ import annotations

import stat
from pathlib import Path

from firebox.auth.sessions import SessionIssuer

ARN = "arn:aws:sts::000000000000:assumed-role/app/fn"


def test_issued_credentials_open_to_the_same_identity(tmp_path: Path) -> None:
    issuer = SessionIssuer(tmp_path, clock=lambda: 1_000_000.0)
    key = issuer.issue(ARN, 3600)
    assert key.access_key_id.startswith("ASIA") and len(key.access_key_id) == 20
    assert len(key.secret_access_key) == 40 and key.expires == 1_003_600
    # Another process on the same data dir (a restarted server) opens it too.
    opened = SessionIssuer(tmp_path).open(key.access_key_id, key.session_token)
    assert opened is not None
    assert (opened.arn, opened.secret_access_key, opened.expires) == (
        ARN, key.secret_access_key, key.expires)  # fmt: skip
    assert stat.S_IMODE((tmp_path / "session-key").stat().st_mode) == 0o600


def test_tampered_or_borrowed_tokens_open_to_nothing(tmp_path: Path) -> None:
    issuer = SessionIssuer(tmp_path)
    key, other = issuer.issue(ARN, 3600), issuer.issue(ARN + "2", 3600)
    body = key.session_token[:-3] + ("AAA" if not key.session_token.endswith("AAA") else "BBB")
    assert issuer.open(key.access_key_id, body) is None
    assert issuer.open(other.access_key_id, key.session_token) is None  # another key's token
    assert issuer.open(key.access_key_id, "not a token") is None
    # A different data dir has a different session key.
    assert SessionIssuer(tmp_path / "other").open(key.access_key_id, key.session_token) is None


def test_a_session_key_of_the_wrong_size_is_never_used(tmp_path: Path) -> None:
    import pytest

    (tmp_path / "session-key").write_bytes(b"")  # an empty key would let anyone forge tokens
    with pytest.raises(OSError, match="not a session key"):
        SessionIssuer(tmp_path).issue(ARN, 60)

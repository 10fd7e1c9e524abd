"""The verifier's answers to credentials that are almost right."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from firebox.auth.errors import InvalidSignatureException, UnrecognizedClientException
from firebox.auth.keys import KeyStore
from firebox.auth.sessions import SessionIssuer
from firebox.auth.sigv4 import SignedRequest, Verifier


def signed(key: str, secret: str, token: str | None = None) -> SignedRequest:
    request = AWSRequest("GET", "http://localhost/2015-03-31/functions/", data=b"")
    SigV4Auth(Credentials(key, secret, token), "lambda", "us-east-1").add_auth(request)
    headers = [(k.lower(), v) for k, v in request.headers.items()] + [("host", "localhost")]
    return SignedRequest("GET", "/2015-03-31/functions/", "", headers, b"")


def test_long_term_keys_refuse_a_stray_token_and_odd_signatures(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path)
    key = keys.create()
    verifier = Verifier(keys, SessionIssuer(tmp_path), "sigv4")
    assert verifier.verify(signed(key.access_key_id, key.secret_access_key)) is not None
    with pytest.raises(UnrecognizedClientException):
        verifier.verify(signed(key.access_key_id, key.secret_access_key, "some-token"))
    request = signed(key.access_key_id, key.secret_access_key)
    odd = [(k, v.replace("Signature=", "Signature=é") if k == "authorization" else v)
           for k, v in request.headers]  # fmt: skip
    with pytest.raises(InvalidSignatureException):  # not a TypeError from compare_digest
        verifier.verify(SignedRequest("GET", request.raw_path, "", odd, b""))


def test_open_mode_checks_sealed_credentials_and_refuses_altered_tokens(tmp_path: Path) -> None:
    sessions = SessionIssuer(tmp_path)
    verifier = Verifier(KeyStore(tmp_path), sessions, "open")
    temp = sessions.issue("arn:aws:sts::000000000000:assumed-role/r/s", 600)
    caller = verifier.verify(signed(temp.access_key_id, temp.secret_access_key,
                                    temp.session_token))  # fmt: skip
    assert caller is not None and caller.verified and caller.arn.endswith("/r/s")
    with pytest.raises(InvalidSignatureException):  # the token is real, the secret is not
        verifier.verify(signed(temp.access_key_id, "wrong", temp.session_token))
    token = temp.session_token
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(UnrecognizedClientException):
        verifier.verify(signed(temp.access_key_id, temp.secret_access_key, altered))
    anyone = verifier.verify(signed("x", "x"))  # open mode: any other key is the account's
    assert anyone is not None and not anyone.verified and anyone.arn == ""

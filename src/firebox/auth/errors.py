"""The errors AWS services answer for requests they cannot authenticate."""

from __future__ import annotations

from firebox.domain.errors import LambdaError


class AuthError(LambdaError):
    """A request the server cannot attribute to a caller."""

    status = 403
    kind = "User"


class UnrecognizedClientException(AuthError):
    """An access key this server does not know."""

    error_type = "UnrecognizedClientException"


class InvalidSignatureException(AuthError):
    """A signature that does not match, or a request signed too long ago."""

    error_type = "InvalidSignatureException"


class MissingAuthenticationTokenException(AuthError):
    """An unsigned request where signatures are required."""

    error_type = "MissingAuthenticationTokenException"


class ExpiredTokenException(AuthError):
    """Temporary credentials past their expiry."""

    error_type = "ExpiredTokenException"


class IncompleteSignatureException(AuthError):
    """An Authorization header or presigned query that is not a well-formed SigV4 one."""

    status = 400
    error_type = "IncompleteSignatureException"


UNKNOWN_KEY = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)

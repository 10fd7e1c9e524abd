"""SNS's errors, with the codes and statuses its query protocol answers with."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class SnsError(CodedError):
    """An SNS error (`error_type` is its `<Code>`)."""


def not_found(what: str = "Topic does not exist") -> SnsError:
    return SnsError("NotFound", what, 404)


def invalid(message: str) -> SnsError:
    return SnsError("InvalidParameter", f"Invalid parameter: {message}", 400)

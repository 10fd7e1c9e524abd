"""S3's errors: each a code, a message and the HTTP status S3 answers with."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class S3Error(CodedError):
    """An S3 error (`error_type` is its `<Code>`); `resource` names what it is about."""

    def __init__(self, code: str, message: str, status: int = 400, resource: str = "") -> None:
        super().__init__(code, message, status)
        self.resource = resource


def no_bucket(name: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, name)


def no_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, key)


def no_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
        upload_id,
    )


def invalid_part() -> S3Error:
    return S3Error(
        "InvalidPart", "One or more of the specified parts could not be found.  The part may "
        "not have been uploaded, or the specified entity tag may not have matched the part's "
        "entity tag.",
    )  # fmt: skip


def invalid_argument(message: str) -> S3Error:
    return S3Error("InvalidArgument", message)


def malformed_xml() -> S3Error:
    return S3Error(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )


def precondition_failed(condition: str) -> S3Error:
    return S3Error(
        "PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
        412, condition,
    )  # fmt: skip

"""AWS Lambda error types, each carrying its HTTP status and wire name."""

from __future__ import annotations

from firebox.domain.types import JSONDict


class LambdaError(Exception):
    """An error the API reports to the client in the AWS envelope."""

    status = 500
    error_type = "ServiceException"
    kind = "Service"

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> JSONDict:
        return {"Type": self.kind, "Message": self.message, **self.extra}


class ServiceException(LambdaError):
    """An unexpected failure inside firebox."""


class ResourceNotFoundException(LambdaError):
    status = 404
    error_type = "ResourceNotFoundException"
    kind = "User"


class ResourceConflictException(LambdaError):
    status = 409
    error_type = "ResourceConflictException"
    kind = "User"


class InvalidParameterValueException(LambdaError):
    status = 400
    error_type = "InvalidParameterValueException"
    kind = "User"


class ValidationException(LambdaError):
    """A request outside its operation's model (AWS's front end answers these, not the
    service, so botocore's Lambda model does not list it)."""

    status = 400
    error_type = "ValidationException"
    kind = "User"


class ConstraintError(ValidationException):
    """A value outside what the API's model allows for a member (a range, a pattern, a length).

    The API layer words it as AWS does ("1 validation error detected: …"); a Python caller
    gets the plain message."""

    def __init__(self, value: object, member: str, constraint: str) -> None:
        super().__init__(f"{member}: {constraint} (was {value!r})")
        self.value, self.member, self.constraint = value, member, constraint


def range_error(value: int, member: str, low: int, high: int) -> ConstraintError:
    """A number out of range, naming the bound it crossed (as AWS's models word it)."""
    if value < low:
        return ConstraintError(
            value, member, f"Member must have value greater than or equal to {low}"
        )
    return ConstraintError(value, member, f"Member must have value less than or equal to {high}")


class InvalidRequestContentException(LambdaError):
    status = 400
    error_type = "InvalidRequestContentException"
    kind = "User"


class RequestTooLargeException(LambdaError):
    status = 413
    error_type = "RequestTooLargeException"
    kind = "User"


class PreconditionFailedException(LambdaError):
    status = 412
    error_type = "PreconditionFailedException"
    kind = "User"


class TooManyRequestsException(LambdaError):
    status = 429
    error_type = "TooManyRequestsException"
    kind = "User"


class UnsupportedMediaTypeException(LambdaError):
    status = 415
    error_type = "UnsupportedMediaTypeException"
    kind = "User"


class CodedError(LambdaError):
    """An error of any service, with the code and status AWS gives it (IAM's NoSuchEntity,
    STS's ValidationError, …); each protocol's envelope carries the code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = code
        self.status = status
        self.kind = "Service" if status >= 500 else "User"


class UnknownOperationException(LambdaError):
    status = 404
    error_type = "UnknownOperationException"
    kind = "User"


class InvalidRuntimeException(LambdaError):
    status = 502
    error_type = "InvalidRuntimeException"
    kind = "User"


class ProvisionedConcurrencyConfigNotFoundException(LambdaError):
    status = 404
    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    kind = "User"


class AccessDeniedException(LambdaError):
    """A resource of another account: this server acts for one account only."""

    status = 403
    error_type = "AccessDeniedException"
    kind = "User"

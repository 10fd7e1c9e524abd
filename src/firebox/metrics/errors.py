"""CloudWatch's errors: the model's shape name, and the code its query protocol uses."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class CloudWatchError(CodedError):
    """An error of CloudWatch; `query_code` is what its query protocol (and the
    x-amzn-query-error header of the other two) calls it."""

    def __init__(self, shape: str, code: str, message: str, status: int = 400) -> None:
        super().__init__(shape, message, status)
        self.query_code = code


def invalid_value(message: str) -> CloudWatchError:
    return CloudWatchError("InvalidParameterValueException", "InvalidParameterValue", message)


def invalid_combination(message: str) -> CloudWatchError:
    return CloudWatchError(
        "InvalidParameterCombinationException", "InvalidParameterCombination", message
    )


def missing(message: str) -> CloudWatchError:
    return CloudWatchError("MissingRequiredParameterException", "MissingParameter", message)


def validation(message: str) -> CloudWatchError:
    return CloudWatchError("ValidationException", "ValidationError", message)


def invalid_token(message: str) -> CloudWatchError:
    return CloudWatchError("InvalidNextToken", "InvalidNextToken", message)

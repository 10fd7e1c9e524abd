"""SQS's errors: each has its JSON type and the code the query protocol (and the
`x-amzn-query-error` header, which SDKs read) gives it."""

from __future__ import annotations

from firebox.domain.errors import CodedError

# JSON type → the older query protocol's code (what x-amzn-query-error carries).
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
}


class SqsError(CodedError):
    """An SQS error: `error_type` is its JSON name, `query_code` its query-protocol code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(code, message, status)
        self.query_code = QUERY_CODES.get(code, code)


def no_queue() -> SqsError:
    return SqsError("QueueDoesNotExist", "The specified queue does not exist.")


def invalid(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", message)


def invalid_value(name: str, value: object, reason: str) -> SqsError:
    return invalid(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing(name: str) -> SqsError:
    return SqsError("MissingParameter", f"The request must contain the parameter {name}.")


def bad_receipt(handle: str) -> SqsError:
    message = f'The input receipt handle "{handle[:200]}" is not a valid receipt handle.'
    return SqsError("ReceiptHandleIsInvalid", message)

"""The Scheduler's errors, by the names its rest-json protocol carries."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class SchedulerError(CodedError):
    """A Scheduler error (`error_type` is its code)."""


def validation(message: str) -> SchedulerError:
    return SchedulerError("ValidationException", message)


def not_found(message: str) -> SchedulerError:
    return SchedulerError("ResourceNotFoundException", message, 404)


def conflict(message: str) -> SchedulerError:
    return SchedulerError("ConflictException", message, 409)

"""EventBridge's errors, by the names its JSON protocol carries."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class EventsError(CodedError):
    """An EventBridge error (`error_type` is its `__type`)."""


def validation(message: str) -> EventsError:
    return EventsError("ValidationException", message)


def not_found(message: str) -> EventsError:
    return EventsError("ResourceNotFoundException", message)


def bad_pattern(reason: str) -> EventsError:
    message = f"Event pattern is not valid. Reason: {reason}"
    return EventsError("InvalidEventPatternException", message)

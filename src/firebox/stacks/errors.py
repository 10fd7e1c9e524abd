"""CloudFormation's error types, as a stack operation reports them."""

from __future__ import annotations

from firebox.domain.errors import CodedError


class StackError(CodedError):
    """A request about a stack that cannot be carried out (CloudFormation's words)."""


def validation(message: str) -> StackError:
    return StackError("ValidationError", message, 400)


def template_error(message: str) -> StackError:
    return validation(f"Template format error: {message}")


def no_stack(name: str) -> StackError:
    return validation(f"Stack with id {name} does not exist")


def in_progress(name: str) -> StackError:
    return StackError(
        "OperationInProgressException",
        f"Stack {name} is in an operation already; wait for it to finish",
        409,
    )

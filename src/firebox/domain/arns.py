"""Parsing of function identifiers (names, partial and full ARNs) and ARN building."""

from __future__ import annotations

import re
from dataclasses import dataclass

from firebox.domain.errors import (
    AccessDeniedException,
    ConstraintError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NAME_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
    "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_RE = re.compile(r"^(\$LATEST|[a-zA-Z0-9_-]{1,128})$")
_IDENTIFIER_RE = re.compile(
    r"^(?:arn:(?:aws[a-zA-Z-]*):lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)


@dataclass(frozen=True)
class FunctionRef:
    """A function named by a client, with the qualifier it asked for, if any."""

    name: str
    qualifier: str | None = None


@dataclass(frozen=True)
class ArnBuilder:
    """Builds ARNs for this server's region and account."""

    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def layer(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"

    def layer_version(self, name: str, version: int) -> str:
        return f"{self.layer(name)}:{version}"


def parse_function_ref(identifier: str, qualifier: str | None = None) -> FunctionRef:
    """Parses a FunctionName path value and an optional ?Qualifier= into a FunctionRef."""
    match = _IDENTIFIER_RE.match(identifier) if len(identifier) <= 170 else None
    if match is None or len(match["name"]) > 64:
        raise ConstraintError(
            identifier,
            "functionName",
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
        )
    arn_qualifier = match["qualifier"]
    if qualifier is not None and not QUALIFIER_RE.match(qualifier):
        raise ConstraintError(
            qualifier,
            "qualifier",
            "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
        )
    if arn_qualifier and qualifier and arn_qualifier != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(match["name"], arn_qualifier or qualifier)


def check_home(identifier: str, arns: ArnBuilder, action: str) -> None:
    """Refuses an ARN of another region or account: it names no function of this server.

    (Acting on the local function of the same name instead would change the wrong one.)"""
    match = _IDENTIFIER_RE.match(identifier) if len(identifier) <= 256 else None
    if match is None:
        return  # not a function identifier: its own checks say so
    region, account = match["region"], match["account"]
    if region and region != arns.region:
        raise ResourceNotFoundException(
            f"Functions from '{region}' are not reachable in this region ('{arns.region}')"
        )
    if account and account != arns.account_id:
        raise AccessDeniedException(
            f"User: arn:aws:iam::{arns.account_id}:root is not authorized to perform: "
            f"lambda:{action} on resource: {identifier} because no resource-based policy "
            f"allows the lambda:{action} action"
        )


def check_name(name: str) -> None:
    """A function name as Lambda allows it: 1-64 letters, digits, - and _."""
    if len(name) > 64:
        raise ConstraintError(
            name, "functionName", "Member must have length less than or equal to 64"
        )
    if not NAME_RE.match(name):
        raise ConstraintError(
            name, "functionName", f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
        )


def check_unqualified_or_latest(ref: FunctionRef, arns: ArnBuilder) -> None:
    """Rejects qualifiers other than $LATEST until versions and aliases exist."""
    if ref.qualifier not in (None, "$LATEST"):
        raise ResourceNotFoundException(
            f"Function not found: {arns.function(ref.name, ref.qualifier)}"
        )

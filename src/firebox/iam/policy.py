"""The IAM policy language: documents checked once, then evaluated against requests.

What is read: `Effect`, `Action`/`NotAction`, `Resource`/`NotResource`, `Principal` (in
resource-based policies), and `Condition` with the common operators (String*, Arn*,
Numeric*, Bool, Null, each with `IfExists`). Evaluation is AWS's: an explicit Deny wins,
then any Allow, else the request is implicitly denied.
"""

from __future__ import annotations

import datetime
import enum
import functools
import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

VERSIONS = ("2012-10-17", "2008-10-17")
MAX_DOCUMENT = 10240  # a role's inline policy, as IAM counts it (characters)


class PolicyError(ValueError):
    """A document IAM would refuse (MalformedPolicyDocument)."""


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"  # an explicit Deny
    NONE = "none"  # no statement applies: implicitly denied


@dataclass(frozen=True)
class Principal:
    """Who makes a request: an IAM identity (`AWS`, by ARN) or a service (`Service`)."""

    kind: str  # "AWS" | "Service"
    value: str  # an ARN, or a service principal such as s3.amazonaws.com

    @property
    def account(self) -> str:
        parts = self.value.split(":")
        return parts[4] if self.kind == "AWS" and len(parts) > 5 else ""


@dataclass(frozen=True)
class Request:
    """What is asked: an action on a resource, by whom, in what context (condition keys)."""

    action: str  # service:Operation
    resource: str
    principal: Principal | None = None
    context: Mapping[str, str | list[str]] = field(default_factory=dict)  # keys in lower case


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: * any run of characters, ? any one; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _strings(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise PolicyError(f"{where} must be a string or a non-empty list of strings")


def _condition_values(value: object, where: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (str, bool, int, float)) for v in items):
        raise PolicyError(f"{where} must be a string, number, boolean or a list of them")
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


# ----- conditions ------------------------------------------------------------------------------
def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _instant(text: str) -> float | None:
    """A date condition's value: epoch seconds, or an ISO 8601 date or time (UTC if unzoned)."""
    number = _number(text)
    if number is not None:
        return number
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _in_network(value: str, wanted: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any((n := _network(w)) is not None and address in n for w in wanted)


_ORDER: dict[str, Callable[[float, float], bool]] = {
    "Equals": operator.eq, "LessThan": operator.lt, "LessThanEquals": operator.le,
    "GreaterThan": operator.gt, "GreaterThanEquals": operator.ge,
}  # fmt: skip


def _ordered(parse_value: Callable[[str], float | None], compare: Callable[[float, float], bool]
             ) -> Callable[[str, list[str]], bool]:  # fmt: skip
    def test(value: str, wanted: list[str]) -> bool:
        number = parse_value(value)
        return number is not None and any(
            (w := parse_value(x)) is not None and compare(number, w) for x in wanted
        )

    return test


def _test(name: str) -> Callable[[str, list[str]], bool] | None:
    """How an operator (its positive form) compares a context value with the wanted ones."""
    if name in ("StringEquals", "ArnEquals", "BinaryEquals"):
        return lambda value, wanted: value in wanted
    if name == "StringEqualsIgnoreCase":
        return lambda value, wanted: value.lower() in {w.lower() for w in wanted}
    if name in ("StringLike", "ArnLike"):
        return lambda value, wanted: any(_glob(w, False).fullmatch(value) for w in wanted)
    if name == "Bool":
        return lambda value, wanted: value.lower() in wanted
    if name == "IpAddress":
        return _in_network
    for family, parse_value in (("Numeric", _number), ("Date", _instant)):
        if name.startswith(family) and name[len(family) :] in _ORDER:
            return _ordered(parse_value, _ORDER[name[len(family) :]])
    return None


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


@dataclass(frozen=True)
class _Condition:
    operator: str
    key: str  # lower case
    wanted: list[str]
    test: Callable[[str, list[str]], bool] | None  # None: Null
    negated: bool
    if_exists: bool
    quantifier: str  # "": a single value; ForAnyValue / ForAllValues: a set of them

    def holds(self, context: Mapping[str, str | list[str]]) -> bool:
        present = context.get(self.key)
        if self.test is None:  # Null: "true" asks that the key be absent
            return (present is None) == (self.wanted[0].lower() == "true")
        if present is None:
            if self.quantifier == "ForAllValues":
                return True  # every value of an empty set matches
            # A negated operator holds for a missing key; IfExists makes any operator hold.
            return self.if_exists or (self.negated and not self.quantifier)
        values = present if isinstance(present, list) else [present]

        def one(value: str) -> bool:
            assert self.test is not None
            matched = self.test(value, self.wanted)
            return not matched if self.negated else matched

        if self.quantifier == "ForAllValues":
            return all(one(v) for v in values)
        if self.quantifier == "ForAnyValue" or not self.negated:
            return any(one(v) for v in values)
        return all(one(v) for v in values)  # a negated single-valued test: none may match


def _conditions(block: object) -> list[_Condition]:
    if not isinstance(block, dict):
        raise PolicyError("Condition must be an object")
    out = []
    for op_name, pairs in block.items():
        quantifier, _, bare = op_name.rpartition(":")
        if quantifier not in ("", "ForAnyValue", "ForAllValues"):
            raise PolicyError(f"Unknown condition operator: {op_name}")
        base = bare.removesuffix("IfExists")
        negated = base in _NEGATED
        name = _NEGATED.get(base, base)
        test = None if name == "Null" else _test(name)
        if test is None and name != "Null":
            raise PolicyError(f"Unknown condition operator: {op_name}")
        if not isinstance(pairs, dict) or not pairs:
            raise PolicyError(f"Condition operator {op_name} needs keys and values")
        for key, value in pairs.items():
            wanted = _condition_values(value, f"Condition {op_name} {key}")
            out.append(_Condition(op_name, key.lower(), wanted, test, negated,
                                  bare.endswith("IfExists"), quantifier))  # fmt: skip
    return out


# ----- principals ------------------------------------------------------------------------------
EXACT, ACCOUNT = "exact", "account"


def _principal_match(patterns: list[tuple[str, str]], who: Principal | None) -> str | None:
    """How a principal block names `who`: EXACT (itself, its role, a service, or anyone),
    ACCOUNT (its account, which delegates to the account's own policies), or not at all."""
    if who is None:
        return None
    found = None
    for kind, value in patterns:
        if value == "*" and kind in ("*", "AWS"):
            return EXACT
        if kind != who.kind:
            continue
        if kind == "Service" and value == who.value:
            return EXACT
        if kind == "AWS":
            if value.isdigit() and len(value) == 12:
                value = f"arn:aws:iam::{value}:root"
            if value == who.value:
                return EXACT
            parts = value.split(":", 5)
            if len(parts) < 6 or parts[4] != who.account:
                continue
            if parts[5] == "root":
                found = ACCOUNT
            elif parts[5].startswith("role/"):  # a role: its sessions too (names: any case)
                role = parts[5].rsplit("/", 1)[-1].lower()
                session = who.value.split(":", 5)[5].lower()
                if session.startswith(f"assumed-role/{role}/"):
                    return EXACT
    return found


def _principals(block: object) -> list[tuple[str, str]]:
    if block == "*":
        return [("*", "*")]
    if not isinstance(block, dict) or not block:
        raise PolicyError('Principal must be "*" or an object of AWS / Service principals')
    out: list[tuple[str, str]] = []
    for kind, value in block.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise PolicyError(f"Unknown principal type: {kind}")
        out.extend((kind, v) for v in _strings(value, f"Principal {kind}"))
    return out


# ----- statements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One statement, its patterns compiled."""

    sid: str
    allow: bool
    actions: list[re.Pattern[str]]
    not_actions: bool
    resources: list[re.Pattern[str]]
    not_resources: bool
    principals: list[tuple[str, str]] | None
    conditions: list[_Condition]
    not_principal: bool = False

    def applies(self, request: Request) -> bool:
        if any(p.fullmatch(request.action) for p in self.actions) == self.not_actions:
            return False
        if self.resources and (
            any(p.fullmatch(request.resource) for p in self.resources) == self.not_resources
        ):
            return False
        if self.principals is not None:
            match = _principal_match(self.principals, request.principal)
            if self.not_principal:
                if match is not None:
                    return False
            elif match is None or (match == ACCOUNT and self.allow):
                # An Allow to an account delegates to the account's identity policies: on
                # its own it allows none of the account's identities.
                return False
        return all(c.holds(request.context) for c in self.conditions)


def _statement(raw: object, index: int, resource_policy: bool) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("Statement must be an object or a list of objects")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError("Effect must be Allow or Deny")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError("Policy statement must contain actions (Action or NotAction).")
    action_key = "Action" if "Action" in raw else "NotAction"
    actions = _strings(raw[action_key], action_key)
    for action in actions:
        if action != "*" and ":" not in action:
            raise PolicyError(f"Actions/Conditions must be prefaced by a vendor, e.g., iam, "
                              f"sdb, ec2, etc. ({action})")  # fmt: skip
    has_resource = "Resource" in raw or "NotResource" in raw
    if not has_resource and not resource_policy:
        raise PolicyError("Policy statement must contain resources.")
    resource_key = "Resource" if "Resource" in raw else "NotResource"
    resources = _strings(raw[resource_key], resource_key) if has_resource else []
    principals = None
    if "Principal" in raw and "NotPrincipal" in raw:
        raise PolicyError("A statement has either Principal or NotPrincipal, not both.")
    if "Principal" in raw or "NotPrincipal" in raw:
        principals = _principals(raw.get("Principal", raw.get("NotPrincipal")))
    elif resource_policy:
        raise PolicyError("Policy statement must contain a principal.")
    known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
             "NotPrincipal", "Condition"}  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PolicyError(f"Syntax errors in policy: unknown field {unknown[0]}")
    return Statement(
        str(raw.get("Sid", index)), effect == "Allow",
        [_glob(a, ignore_case=True) for a in actions], action_key == "NotAction",
        [_glob(r, ignore_case=False) for r in resources], resource_key == "NotResource",
        principals, _conditions(raw["Condition"]) if "Condition" in raw else [],
        "NotPrincipal" in raw,
    )  # fmt: skip


@dataclass(frozen=True)
class Policy:
    """A checked policy document and its compiled statements."""

    document: dict[str, Any]
    statements: list[Statement]

    def decide(self, request: Request) -> Decision:
        return decide([self], request)


def parse(document: str | dict[str, Any], resource_policy: bool = False) -> Policy:
    """A policy document (JSON text or parsed), checked as IAM checks it; raises PolicyError."""
    if isinstance(document, str):
        if len(document) > MAX_DOCUMENT:
            raise PolicyError(f"Cannot exceed quota for PolicySize: {MAX_DOCUMENT}")
        try:
            document = json.loads(document)
        except ValueError:
            raise PolicyError("Syntax errors in policy.") from None
    if not isinstance(document, dict):
        raise PolicyError("Syntax errors in policy.")
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError(f"The policy must contain a valid version string ({version})")
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError("Syntax errors in policy: no Statement.")
    items = raw if isinstance(raw, list) else [raw]
    return Policy(document, [_statement(s, i, resource_policy) for i, s in enumerate(items)])


def decide(policies: Iterable[Policy], request: Request) -> Decision:
    """AWS's evaluation over several policies: explicit Deny, else Allow, else none."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if statement.applies(request):
                if not statement.allow:
                    return Decision.DENY
                allowed = True
    return Decision.ALLOW if allowed else Decision.NONE

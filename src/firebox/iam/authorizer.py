"""Deciding calls signed with a role session's credentials (a function's, or AssumeRole's).

`--iam enforce` denies what the role's policies (and the resource's policy) do not allow;
`report` (the default) lets the call through and logs what enforcement would deny; `off`
decides nothing. Calls signed with long-term keys (`firebox keys`, or any key in open mode)
are the account root's and always allowed, as the root user is on AWS.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from firebox.iam.policy import Decision, Policy, Principal, Request, decide
from firebox.iam.roles import Roles, RoleView

log = logging.getLogger("firebox.iam")
MODES = ("enforce", "report", "off")


@dataclass(frozen=True)
class Denial:
    """Why a call would be (or is) denied, worded as AWS words it."""

    caller: str
    action: str
    resource: str
    explicit: bool
    role_missing: bool

    reason: str = ""  # said instead of the usual why, when there is a better one

    def message(self) -> str:
        why = self.reason or (
            "with an explicit deny" if self.explicit
            else "because its role does not exist" if self.role_missing
            else f"because no identity-based policy allows the {self.action} action"
        )  # fmt: skip
        return (f"User: {self.caller} is not authorized to perform: {self.action} on resource: "
                f"{self.resource} {why}")  # fmt: skip


class AccessDenied(Exception):
    """A call enforcement denies; each protocol names it (AccessDeniedException, AccessDenied)."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.message())
        self.denial = denial


def role_of(session_arn: str, account: str) -> str | None:
    """The role name of an assumed-role session ARN of `account`, or None for any other
    identity (a session of another account's role has no policies here)."""
    parts = session_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sts" or not parts[5].startswith("assumed-role/"):
        return None
    if parts[4] != account:
        return None
    return parts[5].split("/")[1]


def is_session(caller: str) -> bool:
    return ":assumed-role/" in caller


class Authorizer:
    """Evaluates identity policies (and a resource policy) for role-session callers."""

    def __init__(
        self, roles: Roles, mode: str = "report", clock: Callable[[], float] = time.time
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"iam mode must be one of {', '.join(MODES)}")
        self.roles = roles
        self.mode = mode
        self._clock = clock
        self._reported: set[tuple[str, str, str]] = set()
        self._second, self._now = -1, ""

    def check(
        self,
        caller: str,
        action: str,
        resource: str,
        resource_policy: Policy | None = None,
        context: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        """Raises AccessDenied if enforcement denies the call; logs it in report mode."""
        if self.mode == "off" or not is_session(caller):
            return  # long-term keys: the account's root
        role = role_of(caller, self.roles.account)
        view = self.roles.view(role) if role is not None else None
        policies = view.policies if view is not None else None
        request = Request(action, resource, Principal("AWS", caller),
                          {**self._globals(caller, role, view), **(context or {})})  # fmt: skip
        identity = decide(policies or [], request)
        resource_decision = (
            resource_policy.decide(request) if resource_policy is not None else Decision.NONE
        )
        if Decision.DENY in (identity, resource_decision):
            self._deny(Denial(caller, action, resource, True, policies is None))
        elif Decision.ALLOW not in (identity, resource_decision):
            self._deny(Denial(caller, action, resource, False, policies is None))
        # else: same account, so either policy's Allow suffices

    def refuse(self, denial: Denial) -> None:
        """A call the caller's policies cannot allow (a missing role, say): as `check` would."""
        if self.mode != "off":
            self._deny(denial)

    def _deny(self, denial: Denial) -> None:
        if self.mode == "enforce":
            raise AccessDenied(denial)
        key = (denial.caller, denial.action, denial.resource)
        if key not in self._reported:  # once per caller, action and resource: not a flood
            if len(self._reported) > 10_000:
                self._reported.clear()
            self._reported.add(key)
            log.warning("iam report: would deny (--iam enforce): %s", denial.message())

    def _globals(
        self, caller: str, role: str | None, view: RoleView | None
    ) -> dict[str, str | list[str]]:
        """The global condition keys AWS sets for a role session's request."""
        now = int(self._clock())
        if now != self._second:  # formatted once a second, not once a call
            self._second = now
            self._now = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
        account = caller.split(":")[4]
        role_arn = view.arn if view else f"arn:aws:iam::{account}:role/{role}"
        role_id = view.role_id if view else "AROA" + "0" * 17
        return {
            "aws:principalarn": role_arn, "aws:principalaccount": account,
            "aws:principaltype": "AssumedRole",
            "aws:userid": f"{role_id}:{caller.rsplit('/', 1)[-1]}",
            "aws:securetransport": "false", "aws:epochtime": str(now),
            "aws:currenttime": self._now,
        }  # fmt: skip

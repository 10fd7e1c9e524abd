"""IAM roles: CreateRole … ListAttachedRolePolicies, and the policies a role's sessions have."""

from __future__ import annotations

import builtins
import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

from firebox.domain.errors import CodedError
from firebox.iam import managed
from firebox.iam.policy import Policy, PolicyError, parse
from firebox.iam.store import RoleStore
from firebox.storage.base import StoreConflict

MAX_INLINE_TOTAL = 10240  # IAM's quota on a role's inline policies, together (characters)


def no_such_role(name: str) -> CodedError:
    return CodedError("NoSuchEntity", f"The role with name {name} cannot be found.", 404)


def malformed(exc: PolicyError) -> CodedError:
    return CodedError("MalformedPolicyDocument", str(exc))


class Roles:
    """The roles of the account, and the compiled policies of each, cached until one changes."""

    def __init__(self, store: RoleStore, account: str) -> None:
        self.store = store
        self.account = account
        self._stamp = -1
        self._compiled: dict[str, RoleView | None] = {}

    # ----- roles -------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        trust_policy: str,
        path: str = "/",
        description: str = "",
        max_session_s: int = 3600,
        tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        try:
            parse(trust_policy, resource_policy=True)
        except PolicyError as exc:
            raise malformed(exc) from None
        if not (path.startswith("/") and path.endswith("/")):
            raise CodedError("ValidationError", "The specified value for path is invalid. It "
                             "must begin and end with / and contain only alphanumeric characters "
                             "and/or / characters.")  # fmt: skip
        now = datetime.datetime.now(datetime.UTC)
        arn = f"arn:aws:iam::{self.account}:role{path}{name}"
        role = {
            "Path": path, "RoleName": name,
            "RoleId": "AROA" + hashlib.sha256(f"{arn}{now}".encode()).hexdigest()[:17].upper(),
            "Arn": arn, "CreateDate": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AssumeRolePolicyDocument": trust_policy, "Description": description,
            "MaxSessionDuration": max_session_s, "Tags": list(tags or []),
            "InlinePolicies": {}, "AttachedPolicies": [],
        }  # fmt: skip
        try:
            self.store.create(name, role)
        except StoreConflict:
            raise CodedError("EntityAlreadyExists", f"Role with name {name} already exists.",
                             409) from None  # fmt: skip
        return role

    def update_role(self, name: str, description: str, max_session_s: int) -> None:
        """UpdateRole: its description and longest session."""
        if not 3600 <= max_session_s <= 43200:
            raise CodedError("ValidationError", "The requested MaxSessionDuration "
                             "exceeds the allowed range of 3600 to 43200 seconds.")  # fmt: skip
        role = self.get(name)
        self.store.put(name, {**role, "Description": description,
                              "MaxSessionDuration": max_session_s})  # fmt: skip

    def update_trust(self, name: str, trust_policy: str) -> None:
        """UpdateAssumeRolePolicy: who may assume the role."""
        role = self.get(name)
        try:
            parse(trust_policy, resource_policy=True)
        except PolicyError as exc:
            raise malformed(exc) from None
        self.store.put(name, {**role, "AssumeRolePolicyDocument": trust_policy})

    def get(self, name: str) -> dict[str, Any]:
        role = self.store.get(name)
        if role is None:
            raise no_such_role(name)
        return role

    def list(self, path_prefix: str = "/") -> list[dict[str, Any]]:
        return [r for r in self.store.list() if r["Path"].startswith(path_prefix)]

    def delete(self, name: str) -> None:
        role = self.get(name)
        if role["InlinePolicies"]:
            raise CodedError("DeleteConflict", "Cannot delete entity, must delete policies "
                             "first.", 409)  # fmt: skip
        if role["AttachedPolicies"]:
            raise CodedError("DeleteConflict", "Cannot delete entity, must detach all policies "
                             "first.", 409)  # fmt: skip
        self.store.delete(name)

    def exists(self, role_arn: str) -> bool:
        return self.store.get(role_arn.rsplit("/", 1)[-1]) is not None

    # ----- inline policies ---------------------------------------------------------------------
    def put_policy(self, role_name: str, policy_name: str, document: str) -> None:
        role = self.get(role_name)
        try:
            parse(document)
        except PolicyError as exc:
            raise malformed(exc) from None
        inline = {**role["InlinePolicies"], policy_name: document}
        # IAM counts the characters of the documents without their whitespace.
        size = sum(len("".join(d.split())) for d in inline.values())
        if size > MAX_INLINE_TOTAL:
            raise CodedError("LimitExceeded", "Maximum policy size of 10240 bytes exceeded for "
                             f"role {role_name}", 409)  # fmt: skip
        role["InlinePolicies"] = inline
        self.store.put(role_name, role)

    def get_policy(self, role_name: str, policy_name: str) -> str:
        document = self.get(role_name)["InlinePolicies"].get(policy_name)
        if document is None:
            raise CodedError("NoSuchEntity", f"The role policy with name {policy_name} cannot "
                             "be found.", 404)  # fmt: skip
        return str(document)

    def delete_policy(self, role_name: str, policy_name: str) -> None:
        role = self.get(role_name)
        self.get_policy(role_name, policy_name)
        del role["InlinePolicies"][policy_name]
        self.store.put(role_name, role)

    def policy_names(self, role_name: str) -> builtins.list[str]:
        return sorted(self.get(role_name)["InlinePolicies"])

    # ----- managed policies --------------------------------------------------------------------
    def attach(self, role_name: str, policy_arn: str) -> None:
        role = self.get(role_name)
        if managed.document(policy_arn) is None:
            raise CodedError("NoSuchEntity", f"Policy {policy_arn} does not exist or is not "
                             "attachable.", 404)  # fmt: skip
        if policy_arn not in role["AttachedPolicies"]:
            role["AttachedPolicies"].append(policy_arn)
            self.store.put(role_name, role)

    def detach(self, role_name: str, policy_arn: str) -> None:
        role = self.get(role_name)
        if policy_arn not in role["AttachedPolicies"]:
            raise CodedError("NoSuchEntity", f"Policy {policy_arn} was not found.", 404)
        role["AttachedPolicies"].remove(policy_arn)
        self.store.put(role_name, role)

    def attached(self, role_name: str) -> builtins.list[str]:
        return list(self.get(role_name)["AttachedPolicies"])

    # ----- evaluation --------------------------------------------------------------------------
    def policies_of(self, role_name: str) -> builtins.list[Policy] | None:
        """The identity policies of a role's sessions (inline and attached); None if the role
        does not exist. Compiled once, until any role changes."""
        compiled = self.view(role_name)
        return compiled.policies if compiled is not None else None

    def view(self, role_name: str) -> RoleView | None:
        """A role as evaluation needs it (ARN, id, compiled policies), if it exists."""
        stamp = self.store.stamp()
        if stamp != self._stamp:
            self._compiled.clear()
            self._stamp = stamp
        key = role_name.lower()
        if key not in self._compiled:
            role = self.store.get(role_name)
            if role is None:
                self._compiled[key] = None
            else:
                documents: list[Any] = [*role["InlinePolicies"].values()]
                documents += [managed.document(a) for a in role["AttachedPolicies"]]
                self._compiled[key] = RoleView(
                    str(role["Arn"]), str(role["RoleId"]),
                    [parse(d) for d in documents if d is not None],
                )  # fmt: skip
        return self._compiled[key]


@dataclass(frozen=True)
class RoleView:
    """A role as evaluation needs it."""

    arn: str
    role_id: str
    policies: builtins.list[Policy]

"""Resource-based policies of functions: AddPermission, RemovePermission, GetPolicy.

Each qualifier (the unqualified function, a version, an alias) has its own policy, with a
revision id that changes with every write. The services that invoke functions (S3, SNS,
EventBridge, the Scheduler) ask `allows` before they do; calls signed with a role session's
credentials are decided against it as well (iam/authorizer.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from firebox.control.catalog import Catalog
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    InvalidParameterValueException,
    LambdaError,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST
from firebox.iam.policy import Decision, Policy, PolicyError, Principal, Request, parse
from firebox.storage.base import Change

MAX_POLICY = 20480  # Lambda's limit on a function's resource-based policy (bytes)


class PolicyLengthExceededException(LambdaError):
    status = 400
    error_type = "PolicyLengthExceededException"
    kind = "User"


@dataclass(frozen=True)
class Permission:
    """What AddPermission grants, as the API gives it."""

    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    event_source_token: str | None = None
    principal_org_id: str | None = None
    function_url_auth_type: str | None = None
    invoked_via_function_url: bool | None = None


@dataclass(frozen=True)
class _Stored:
    statements: list[dict[str, Any]]
    revision_id: str
    policy: Policy


def _principal(principal: str) -> object:
    if principal == "*":
        return "*"
    if principal.isdigit() and len(principal) == 12:
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    if "." in principal:  # a service principal: s3.amazonaws.com, sns.amazonaws.com, …
        return {"Service": principal}
    raise InvalidParameterValueException(
        "The provided principal was invalid. Please check the principal and try again."
    )


def statement(permission: Permission, resource: str) -> dict[str, Any]:
    """The policy statement AddPermission writes, in AWS's shape."""
    equals: dict[str, str] = {}
    conditions: dict[str, dict[str, str]] = {}
    if permission.source_account:
        equals["AWS:SourceAccount"] = permission.source_account
    if permission.principal_org_id:
        equals["aws:PrincipalOrgID"] = permission.principal_org_id
    if permission.event_source_token:
        equals["lambda:EventSourceToken"] = permission.event_source_token
    if permission.function_url_auth_type:
        equals["lambda:FunctionUrlAuthType"] = permission.function_url_auth_type
    if equals:
        conditions["StringEquals"] = equals
    if permission.source_arn:
        conditions["ArnLike"] = {"AWS:SourceArn": permission.source_arn}
    if permission.invoked_via_function_url:
        conditions["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    action = permission.action
    if action.lower().startswith("lambda:"):
        action = "lambda:" + action.split(":", 1)[1]
    out: dict[str, Any] = {
        "Sid": permission.statement_id, "Effect": "Allow",
        "Principal": _principal(permission.principal), "Action": action, "Resource": resource,
    }  # fmt: skip
    if conditions:
        out["Condition"] = conditions
    return out


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


class FunctionPolicies:
    """Every function's resource-based policies, kept in memory and in the store."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self._policies: dict[tuple[str, str], _Stored] = {}

    def load(self) -> None:
        for doc in self.store.policies():
            self._remember(str(doc["function_name"]), str(doc["qualifier"]),
                           list(doc["statements"]), str(doc["revision_id"]))  # type: ignore[call-overload]  # fmt: skip

    def refresh(self, changes: list[Change]) -> None:
        """Reads the table again: another process changed it (the changes say so)."""
        self._policies.clear()
        self.load()

    def _remember(self, name: str, qualifier: str, statements: list[dict[str, Any]],
                  revision: str) -> _Stored:  # fmt: skip
        stored = _Stored(statements, revision, parse(_document(statements), resource_policy=True))
        self._policies[name, qualifier] = stored
        return stored

    def _key(self, ref: FunctionRef) -> tuple[str, str]:
        qualifier = ref.qualifier or LATEST
        self.catalog.deployed(FunctionRef(ref.name, qualifier))  # it exists, or NotFound
        return ref.name, qualifier

    def _resource(self, key: tuple[str, str]) -> str:
        name, qualifier = key
        return self.catalog.arns.function(name, None if qualifier == LATEST else qualifier)

    async def add(
        self, ref: FunctionRef, permission: Permission, revision_id: str | None = None
    ) -> dict[str, Any]:
        """Adds a statement; returns it."""
        async with self.catalog.lock:
            key = self._key(ref)
            current = self._policies.get(key)
            self._check_revision(current, revision_id)
            statements = list(current.statements) if current else []
            if any(s["Sid"] == permission.statement_id for s in statements):
                raise ResourceConflictException(
                    "The statement id (sid) provided already exists. Please choose a new "
                    "statement id, or remove the existing statement."
                )
            added = statement(permission, self._resource(key))
            statements.append(added)
            size = len(json.dumps(_document(statements), separators=(",", ":")))
            if size > MAX_POLICY:
                raise PolicyLengthExceededException(
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY})."
                )
            try:
                self._save(key, statements)
            except PolicyError as exc:  # a condition value IAM could not read
                raise InvalidParameterValueException(str(exc)) from None
            return added

    async def remove(self, ref: FunctionRef, sid: str, revision_id: str | None = None) -> None:
        async with self.catalog.lock:
            key = self._key(ref)
            current = self._policies.get(key)
            if current is None:
                raise ResourceNotFoundException("No policy is associated with the given resource.")
            self._check_revision(current, revision_id)
            statements = [s for s in current.statements if s["Sid"] != sid]
            if len(statements) == len(current.statements):
                raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")
            if statements:
                self._save(key, statements)
            else:
                self.store.delete_policy(*key)
                self._policies.pop(key, None)

    def get(self, ref: FunctionRef) -> tuple[str, str]:
        """The policy (as JSON text) and its revision id."""
        current = self._policies.get(self._key(ref))
        if current is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return json.dumps(_document(current.statements), separators=(",", ":")), (
            current.revision_id
        )

    def policy_for(self, name: str, qualifier: str | None) -> Policy | None:
        """The compiled policy of a function's qualifier (None: unqualified), if it has one."""
        stored = self._policies.get((name, qualifier or LATEST))
        return stored.policy if stored else None

    def allows(
        self,
        name: str,
        qualifier: str | None,
        principal: Principal,
        source_arn: str | None = None,
        source_account: str | None = None,
        action: str = "lambda:InvokeFunction",
    ) -> bool:
        """Whether the qualifier's policy lets `principal` (a service, typically) invoke it."""
        policy = self.policy_for(name, qualifier)
        if policy is None:
            return False
        context: dict[str, str | list[str]] = {}
        if source_arn:
            context["aws:sourcearn"] = source_arn
        if source_account:
            context["aws:sourceaccount"] = source_account
        resource = self.catalog.arns.function(name, qualifier)
        return policy.decide(Request(action, resource, principal, context)) is Decision.ALLOW

    def _check_revision(self, current: _Stored | None, revision_id: str | None) -> None:
        if revision_id is not None and (current is None or current.revision_id != revision_id):
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetPolicy API to retrieve the latest Revision Id"
            )

    def _save(self, key: tuple[str, str], statements: list[dict[str, Any]]) -> None:
        revision = str(uuid.uuid4())
        stored = self._remember(*key, statements, revision)  # compiles: a bad one goes no further
        self.store.put_policy(*key, {"function_name": key[0], "qualifier": key[1],
                                     "statements": stored.statements,
                                     "revision_id": revision})  # fmt: skip

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function's (qualifier None), version's or alias's policy goes with it."""
        for key in [k for k in self._policies if k[0] == function_name]:
            if qualifier in (None, key[1]):
                del self._policies[key]
                if qualifier is not None:
                    self.store.delete_policy(*key)

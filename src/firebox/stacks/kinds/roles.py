"""IAM's resource type: roles with their inline and managed policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.domain.errors import CodedError
from firebox.stacks.kinds.base import Applied, Context, Made, Props, adopted, changed


class Role:
    type_name: ClassVar[str] = "AWS::IAM::Role"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("RoleName") or ctx.generated_name(logical_id, 64)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("RoleName", "Path"))

    def _policies(self, ctx: Context, name: str, p: Props) -> None:
        """Inline and managed policies made to be exactly those of the template."""
        roles = ctx.services.roles
        inline = {str(i["PolicyName"]): i["PolicyDocument"] for i in p.items("Policies")}
        for stale in set(roles.policy_names(name)) - set(inline):
            roles.delete_policy(name, stale)
        for policy_name, document in inline.items():
            text = document if isinstance(document, str) else json.dumps(document)
            roles.put_policy(name, policy_name, text)
        managed = {str(arn) for arn in p.items("ManagedPolicyArns")}
        for stale in set(roles.attached(name)) - managed:
            roles.detach(name, stale)
        for arn in sorted(managed - set(roles.attached(name))):
            roles.attach(name, arn)

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = p.text("RoleName") or ctx.generated_name(logical_id, 64)
        roles = ctx.services.roles
        trust = p.document("AssumeRolePolicyDocument") or p.required("AssumeRolePolicyDocument")
        role = roles.create(
            name,
            str(trust),
            p.text("Path", "/") or "/",
            p.text("Description", "") or "",
            p.integer("MaxSessionDuration", 3600) or 3600,
            [{"Key": k, "Value": v} for k, v in p.tags().items()] or None,
        )
        try:
            self._policies(ctx, name, p)
        except BaseException:
            self._drop(ctx, name)
            raise
        return Made(name, {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        name, roles = old.physical_id, ctx.services.roles
        if changed(old.properties, p.values, ("AssumeRolePolicyDocument",)):
            roles.update_trust(name, str(p.document("AssumeRolePolicyDocument")))
        if changed(old.properties, p.values, ("Description", "MaxSessionDuration")):
            roles.update_role(name, p.text("Description", "") or "",
                              p.integer("MaxSessionDuration", 3600) or 3600)  # fmt: skip
        self._policies(ctx, name, p)
        role = roles.get(name)
        return Made(name, {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = p.text("RoleName") or ctx.generated_name(logical_id, 64)
        if ctx.services.roles.view(name) is None:
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, name))

    async def delete(self, ctx: Context, old: Applied) -> None:
        self._drop(ctx, old.physical_id)

    def _drop(self, ctx: Context, name: str) -> None:
        roles = ctx.services.roles
        try:
            for policy in roles.policy_names(name):
                roles.delete_policy(name, policy)
            for arn in roles.attached(name):
                roles.detach(name, arn)
            roles.delete(name)
        except CodedError as exc:
            if exc.error_type != "NoSuchEntity":
                raise

"""Lambda's resource types: functions, versions, aliases, permissions, URLs, event source
mappings, and firebox's HTTP routes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any, ClassVar

from firebox.control.event_configs import NOT_GIVEN, EventConfigChange
from firebox.control.event_sources import MappingChange
from firebox.control.policies import Permission as PermissionGrant
from firebox.control.releases import AliasChange
from firebox.domain.arns import FunctionRef, parse_function_ref
from firebox.domain.errors import LambdaError, ResourceNotFoundException
from firebox.domain.functions import FunctionConfig, NewFunction
from firebox.domain.layers import NewLayerVersion
from firebox.stacks.kinds.base import (
    Applied,
    Context,
    Made,
    Props,
    adopted,
    changed,
    text_value,
)

CODE_KEYS = ("Code",)
CONFIG_KEYS = (
    "Runtime",
    "Role",
    "Handler",
    "Description",
    "Timeout",
    "MemorySize",
    "Environment",
    "EphemeralStorage",
    "Architectures",
    "DeadLetterConfig",
    "Layers",
)


def _ref(value: str) -> FunctionRef:
    return parse_function_ref(value)


async def _tolerate_missing(call: Any) -> None:
    """Deleting what is gone already succeeds (as CloudFormation treats it)."""
    try:
        await call
    except ResourceNotFoundException:
        pass
    except LambdaError as exc:
        if "NotFound" not in exc.error_type and "NoSuch" not in exc.error_type:
            raise


def _code(ctx: Context, p: Props) -> bytes:
    """The package a Code property names: a deploy's artifact, an S3 object, inline text."""
    code = p.mapping("Code")
    if "Artifact" in code:
        return ctx.services.artifact(str(code["Artifact"]))
    if "S3Bucket" in code:
        record, body = ctx.services.objects.open(str(code["S3Bucket"]), str(code["S3Key"]))
        try:  # (objects over 128 KiB live in files, read in chunks)
            return body.read_all() if body.small else b"".join(body.chunks(0, record.size - 1))
        finally:
            body.close()
    if "ZipFile" in code:  # inline source: index.py or index.js, as CloudFormation writes it
        runtime = str(p.get("Runtime", ""))
        name = "index.py" if runtime.startswith("python") else "index.js"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, str(code["ZipFile"]))
        return buffer.getvalue()
    raise p.fail("#/Code: one of ZipFile, S3Bucket/S3Key or Artifact is required")


def _config(p: Props) -> FunctionConfig:
    """Every configuration member, defaults for the ones left out (an update resets them)."""
    env = p.mapping("Environment").get("Variables") or {}
    dlq = p.mapping("DeadLetterConfig").get("TargetArn")
    return FunctionConfig(
        runtime=p.text("Runtime"),
        role=p.required("Role"),
        handler=p.text("Handler"),
        description=p.text("Description", ""),
        timeout=p.integer("Timeout", 3),
        memory_size=p.integer("MemorySize", 128),
        environment={str(k): text_value(v) for k, v in env.items()},
        ephemeral_storage=int(p.mapping("EphemeralStorage").get("Size", 512)),
        architectures=tuple(p.items("Architectures")) or ("x86_64",),
        dead_letter_target=str(dlq or ""),
        layers=tuple(str(layer) for layer in p.items("Layers")),
    )


class Function:
    type_name: ClassVar[str] = "AWS::Lambda::Function"
    # Deleting it makes the services forget what names it (URLs, permissions, configs…).
    cascades: ClassVar[bool] = True

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return p.text("FunctionName") or ctx.generated_name(logical_id, 64)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("FunctionName",))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        name = p.text("FunctionName") or ctx.generated_name(logical_id, 64)
        s = ctx.services
        await s.functions.create(NewFunction(name, _config(p), _code(ctx, p), p.tags()))
        try:
            reserved = p.integer("ReservedConcurrentExecutions")
            if reserved is not None:
                await s.concurrency.set_reserved(FunctionRef(name), reserved)
        except BaseException:
            await s.functions.delete(FunctionRef(name))  # made whole, or not at all
            raise
        return self._made(ctx, name)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        name, s = old.physical_id, ctx.services
        ref = FunctionRef(name)
        if changed(old.properties, p.values, CONFIG_KEYS):
            await s.functions.update_configuration(ref, _config(p))
        if changed(old.properties, p.values, CODE_KEYS):
            await s.functions.update_code(ref, _code(ctx, p))
        if changed(old.properties, p.values, ("ReservedConcurrentExecutions",)):
            await s.concurrency.set_reserved(ref, p.integer("ReservedConcurrentExecutions"))
        if changed(old.properties, p.values, ("Tags",)):
            arn = s.functions.catalog.arns.function(name)
            stale = set(s.functions.list_tags(arn)) - set(p.tags())
            if stale:
                await s.functions.untag(arn, sorted(stale))
            if p.tags():
                await s.functions.tag(arn, p.tags())
        return self._made(ctx, name)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await _tolerate_missing(ctx.services.functions.delete(FunctionRef(old.physical_id)))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        name = p.text("FunctionName") or ctx.generated_name(logical_id, 64)
        if not ctx.services.functions.catalog.exists(name):
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, name))

    def _made(self, ctx: Context, name: str) -> Made:
        arn = ctx.services.functions.catalog.arns.function(name)
        return Made(name, {"Ref": name, "Arn": arn})


class Version:
    """A published version; kept when the template drops it (the Framework retains them)."""

    type_name: ClassVar[str] = "AWS::Lambda::Version"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return None  # the next number

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("FunctionName", "CodeSha256", "Description"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        ref = _ref(str(p.required("FunctionName")))
        record = await ctx.services.releases.publish(FunctionRef(ref.name),
                                                     p.text("Description"))  # fmt: skip
        arn = ctx.services.functions.catalog.arns.function(ref.name, record.version)
        made = Made(arn, {"Ref": arn, "Version": record.version, "FunctionArn": arn})
        provisioned = p.mapping("ProvisionedConcurrencyConfig").get(
            "ProvisionedConcurrentExecutions"
        )
        if provisioned:
            await ctx.services.concurrency.put(FunctionRef(ref.name, record.version),
                                               int(provisioned))  # fmt: skip
        return made

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        """Versions stay (DeletionPolicy Retain, as the Framework declares them)."""

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # publishing again finds the version an interrupted publish made


class Alias:
    type_name: ClassVar[str] = "AWS::Lambda::Alias"
    # Deleting it makes the services forget what names it (URLs, permissions, configs…).
    cascades: ClassVar[bool] = True

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        function = _ref(str(p.required("FunctionName"))).name
        return ctx.services.functions.catalog.arns.function(function, str(p.required("Name")))

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("FunctionName", "Name"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        ref = FunctionRef(_ref(str(p.required("FunctionName"))).name)
        name = str(p.required("Name"))
        await ctx.services.releases.create_alias(
            ref, name, str(p.required("FunctionVersion")), p.text("Description", "") or "",
            _weights(p),
        )  # fmt: skip
        try:
            await self._provisioned(ctx, FunctionRef(ref.name, name), p, None)
        except BaseException:
            await ctx.services.releases.delete_alias(ref, name)  # made whole, or not at all
            raise
        return self._made(ctx, ref.name, name)

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        ref = FunctionRef(_ref(str(p.required("FunctionName"))).name)
        try:
            ctx.services.releases.get_alias(ref, str(p.required("Name")))
        except LambdaError:
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, ""))

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        ref = FunctionRef(_ref(str(p.required("FunctionName"))).name)
        name = str(p.required("Name"))
        change = AliasChange(str(p.required("FunctionVersion")), p.text("Description", ""),
                             _weights(p) or {})  # fmt: skip
        await ctx.services.releases.update_alias(ref, name, change)
        await self._provisioned(ctx, FunctionRef(ref.name, name), p, old)
        return self._made(ctx, ref.name, name)

    async def delete(self, ctx: Context, old: Applied) -> None:
        ref = FunctionRef(_ref(str(old.properties["FunctionName"])).name)
        await _tolerate_missing(ctx.services.releases.delete_alias(ref, old.properties["Name"]))

    async def _provisioned(self, ctx: Context, ref: FunctionRef, p: Props,
                           old: Applied | None) -> None:  # fmt: skip
        key = "ProvisionedConcurrencyConfig"
        if old is not None and old.properties.get(key) == p.get(key):
            return
        wanted = p.mapping(key).get("ProvisionedConcurrentExecutions")
        if wanted:
            await ctx.services.concurrency.put(ref, int(wanted))
        elif old is not None:
            await _tolerate_missing(ctx.services.concurrency.delete(ref))

    def _made(self, ctx: Context, function: str, name: str) -> Made:
        arn = ctx.services.functions.catalog.arns.function(function, name)
        return Made(arn, {"Ref": arn, "AliasArn": arn})


def _weights(p: Props) -> dict[str, float] | None:
    routing = p.mapping("RoutingConfig").get("AdditionalVersionWeights") or []
    return {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in routing} or None


class Permission:
    type_name: ClassVar[str] = "AWS::Lambda::Permission"
    location: ClassVar[tuple[str, ...]] = ("FunctionName",)

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return f"{ctx.stack}-{logical_id}"[:100]

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return old != new  # every property of a permission needs a new one

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        ref = _ref(str(p.required("FunctionName")))
        sid = f"{ctx.stack}-{logical_id}"[:100]
        grant = PermissionGrant(
            statement_id=sid,
            action=str(p.required("Action")),
            principal=str(p.required("Principal")),
            source_arn=p.text("SourceArn"),
            source_account=p.text("SourceAccount"),
            event_source_token=p.text("EventSourceToken"),
            principal_org_id=p.text("PrincipalOrgID"),
            function_url_auth_type=p.text("FunctionUrlAuthType"),
        )
        await ctx.services.policies.add(ref, grant)
        return Made(sid, {"Ref": sid})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        ref = _ref(str(old.properties["FunctionName"]))
        await _tolerate_missing(ctx.services.policies.remove(ref, old.physical_id))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        ref = _ref(str(p.required("FunctionName")))  # its statement id is the stack's: remade
        await _tolerate_missing(
            ctx.services.policies.remove(ref, f"{ctx.stack}-{logical_id}"[:100])
        )
        return await self.create(ctx, logical_id, p)


class Url:
    type_name: ClassVar[str] = "AWS::Lambda::Url"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        target = self._target(p)
        qualifier = None if target.qualifier in (None, "$LATEST") else target.qualifier
        return ctx.services.functions.catalog.arns.function(target.name, qualifier)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("TargetFunctionArn", "Qualifier"))

    def _target(self, p: Props | Mapping[str, Any]) -> FunctionRef:
        values = p.values if isinstance(p, Props) else p
        ref = _ref(str(values["TargetFunctionArn"]))
        return FunctionRef(ref.name, values.get("Qualifier") or ref.qualifier)

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        p.required("TargetFunctionArn")
        config = await ctx.services.urls.create(
            self._target(p), p.text("AuthType", "NONE") or "NONE", p.mapping("Cors") or None,
            p.text("InvokeMode", "BUFFERED") or "BUFFERED",
        )  # fmt: skip
        return self._made(ctx, config)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        config = await ctx.services.urls.update(
            self._target(p), p.text("AuthType", "NONE"), p.mapping("Cors"),
            p.text("InvokeMode", "BUFFERED"),
        )  # fmt: skip
        return self._made(ctx, config)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await _tolerate_missing(ctx.services.urls.delete(self._target(old.properties)))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        try:
            ctx.services.urls.get(self._target(p))
        except LambdaError:
            return None
        return await self.update(ctx, p, adopted(logical_id, self.type_name, ""))

    def _made(self, ctx: Context, config: Any) -> Made:
        url = ctx.services.urls.url(config)
        qualifier = None if config.qualifier == "$LATEST" else config.qualifier
        arn = ctx.services.functions.catalog.arns.function(config.function_name, qualifier)
        return Made(arn, {"Ref": arn, "FunctionUrl": url, "FunctionArn": arn})


class EventSourceMapping:
    type_name: ClassVar[str] = "AWS::Lambda::EventSourceMapping"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return None  # a UUID

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("EventSourceArn",))

    def _change(self, p: Props, function: str | None) -> MappingChange:
        filters = p.mapping("FilterCriteria").get("Filters") or []
        scaling = p.mapping("ScalingConfig").get("MaximumConcurrency")
        return MappingChange(
            function_name=function,
            batch_size=p.integer("BatchSize", 10),
            window_s=p.integer("MaximumBatchingWindowInSeconds", 0),
            enabled=p.boolean("Enabled", True),
            filters=[{"Pattern": str(f["Pattern"])} for f in filters],
            max_concurrency=self._scaling(p, scaling),
            response_types=[str(t) for t in p.items("FunctionResponseTypes")],
        )

    def _scaling(self, p: Props, value: Any) -> int:
        """ScalingConfig.MaximumConcurrency (2–1,000); 0 when there is none (it is removed)."""
        if value is None:
            return 0
        try:
            number = int(str(value))
        except ValueError:
            raise p.fail("#/ScalingConfig/MaximumConcurrency: expected type: Integer") from None
        if not 2 <= number <= 1000:
            raise p.fail("#/ScalingConfig/MaximumConcurrency: must be between 2 and 1000")
        return number

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        function, source = str(p.required("FunctionName")), str(p.required("EventSourceArn"))
        mapping = await ctx.services.mappings.create(function, source, self._change(p, None))
        return self._made(ctx, mapping)

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        change = self._change(p, str(p.required("FunctionName")))
        mapping = await ctx.services.mappings.update(old.physical_id, change)
        return self._made(ctx, mapping)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await _tolerate_missing(ctx.services.mappings.delete(old.physical_id))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        function = _ref(str(p.required("FunctionName"))).name
        source = str(p.required("EventSourceArn"))
        for mapping in ctx.services.mappings.list(function):
            if mapping.source_arn == source:
                return await self.update(ctx, p, adopted(logical_id, self.type_name,
                                                         mapping.uuid))  # fmt: skip
        return None

    def _made(self, ctx: Context, mapping: Any) -> Made:
        return Made(
            mapping.uuid,
            {
                "Ref": mapping.uuid,
                "Id": mapping.uuid,
                "EventSourceMappingArn": ctx.services.mappings.arn(mapping),
            },
        )


class HttpRoute:
    """firebox's own type: a route of its HTTP endpoint to a function (what httpApi and http
    events become; on AWS, API Gateway's resources)."""

    type_name: ClassVar[str] = "Firebox::Http::Route"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return None  # drawn at random

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return old != new

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        ref = _ref(str(p.required("FunctionName")))
        route = await ctx.services.routes.add(
            str(p.required("RouteKey")), ref.name, p.text("Qualifier") or ref.qualifier,
            p.text("PayloadFormatVersion", "2.0") or "2.0",
        )  # fmt: skip
        url = f"{ctx.endpoint}{ctx.http_prefix}"
        return Made(route.id, {"Ref": route.id, "Url": url, "RouteKey": route.key})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await _tolerate_missing(ctx.services.routes.remove(old.physical_id))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        key = str(p.required("RouteKey"))
        for route in ctx.services.routes.list():
            if route.key == key and route.function_name == _ref(str(p.get("FunctionName"))).name:
                await ctx.services.routes.remove(route.id)  # made again, as these properties say
                return await self.create(ctx, logical_id, p)
        return None


class EventInvokeConfig:
    """A function's asynchronous invocation settings: retries, event age, destinations."""

    type_name: ClassVar[str] = "AWS::Lambda::EventInvokeConfig"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        ref = self._ref(p.values)
        return ctx.services.functions.catalog.arns.function(ref.name, ref.qualifier)

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return changed(old, new, ("FunctionName", "Qualifier"))

    def _ref(self, values: Mapping[str, Any]) -> FunctionRef:
        ref = _ref(str(values["FunctionName"]))
        return FunctionRef(ref.name, str(values.get("Qualifier") or ref.qualifier or "$LATEST"))

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        p.required("FunctionName")
        destinations = p.mapping("DestinationConfig")
        change = EventConfigChange(
            maximum_retry_attempts=p.integer("MaximumRetryAttempts") if
            p.get("MaximumRetryAttempts") is not None else NOT_GIVEN,
            maximum_event_age=p.integer("MaximumEventAgeInSeconds") if
            p.get("MaximumEventAgeInSeconds") is not None else NOT_GIVEN,
            on_success=(destinations.get("OnSuccess") or {}).get("Destination", NOT_GIVEN),
            on_failure=(destinations.get("OnFailure") or {}).get("Destination", NOT_GIVEN),
        )  # fmt: skip
        ref = self._ref(p.values)
        await ctx.services.event_configs.put(ref, change)  # the whole config: the rest default
        arn = ctx.services.functions.catalog.arns.function(ref.name, ref.qualifier)
        return Made(arn, {"Ref": arn})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return await self.create(ctx, old.logical_id, p)

    async def delete(self, ctx: Context, old: Applied) -> None:
        await _tolerate_missing(ctx.services.event_configs.delete(self._ref(old.properties)))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # putting the config again is the same as putting it once


class LayerVersion:
    """A layer version published from the deploy's package (versions are immutable: any
    change publishes a new one; the old one is deleted unless DeletionPolicy keeps it)."""

    type_name: ClassVar[str] = "AWS::Lambda::LayerVersion"

    def name(self, ctx: Context, logical_id: str, p: Props) -> str | None:
        return None  # the next version

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        return old != new

    async def create(self, ctx: Context, logical_id: str, p: Props) -> Made:
        content = p.mapping("Content")
        if "Artifact" in content:
            code = ctx.services.artifact(str(content["Artifact"]))
        elif "S3Bucket" in content:
            code = _code(ctx, Props(logical_id, {"Code": content}))
        else:
            raise p.fail("#/Content: S3Bucket/S3Key or Artifact is required")
        published = await ctx.services.layers.publish(NewLayerVersion(
            name=p.text("LayerName") or ctx.generated_name(logical_id, 140), code=code,
            description=p.text("Description", "") or "",
            license_info=p.text("LicenseInfo", "") or "",
            compatible_runtimes=tuple(str(r) for r in p.items("CompatibleRuntimes")),
            compatible_architectures=tuple(str(a) for a in p.items("CompatibleArchitectures")),
        ))  # fmt: skip
        arn = ctx.services.layers.arns.layer_version(published.name, published.version)
        return Made(arn, {"Ref": arn, "LayerVersionArn": arn})

    async def update(self, ctx: Context, p: Props, old: Applied) -> Made:
        return Made(old.physical_id, old.attributes)

    async def delete(self, ctx: Context, old: Applied) -> None:
        name, _, version = old.physical_id.rpartition(":")
        await _tolerate_missing(ctx.services.layers.delete(name, int(version)))

    async def adopt(self, ctx: Context, logical_id: str, p: Props) -> Made | None:
        return None  # (an interrupted publish may leave one unused version behind)

"""Stacks applied as CloudFormation applies them: a plan (create, update, replace, delete or
unchanged per resource), then each change in dependency order, the record written after every
one, so a failure part-way leaves a state the next deploy repairs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from firebox.domain.errors import LambdaError
from firebox.stacks.errors import no_stack, validation
from firebox.stacks.intrinsics import Scope, Unknown, resolve
from firebox.stacks.kinds.base import Applied, Context, Kind, Props, Services
from firebox.stacks.store import StackStore
from firebox.stacks.template import (
    ResourceSpec,
    Template,
    check_stack_name,
    parse_template,
    topological,
)

Progress = Callable[["StackEvent"], None]


@dataclass(frozen=True)
class Change:
    """One line of a plan."""

    logical_id: str
    type: str
    action: str  # create | update | replace | delete | retain | unchanged | skip
    reason: str = ""


@dataclass(frozen=True)
class StackEvent:
    """Progress of an operation: a resource started, done, failed or skipped."""

    logical_id: str
    type: str
    action: str
    status: str  # started | done | failed | skipped
    reason: str = ""
    elapsed_ms: float = 0.0  # how long the change took (done and failed)


@dataclass
class StackRecord:
    """A stack as stored: its last template, what it made, its status and outputs."""

    name: str
    status: str = "REVIEW_IN_PROGRESS"
    reason: str = ""
    created: float = 0.0
    updated: float = 0.0
    template: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Applied] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["resources"] = {k: asdict(v) for k, v in self.resources.items()}
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> StackRecord:
        fields = dict(doc)
        fields["resources"] = {
            k: Applied(**{**v, "depends_on": tuple(v.get("depends_on", ()))})
            for k, v in doc.get("resources", {}).items()
        }
        return cls(**fields)


def _message(exc: BaseException) -> str:
    if isinstance(exc, LambdaError):
        return f"{exc.error_type}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _guess_name(spec: ResourceSpec, stack: str) -> str:
    """What Ref gives for a resource firebox skips: the name its properties give it."""
    for key, value in spec.properties.items():
        if key.endswith("Name") and isinstance(value, str):
            return value
    return f"{stack}-{spec.logical_id}"


def artifacts_of(template: Mapping[str, Any]) -> list[str]:
    """The packages a template's functions name."""
    found = []
    for body in (template.get("Resources") or {}).values():
        code = (body.get("Properties") or {}).get("Code")
        if isinstance(code, dict) and isinstance(code.get("Artifact"), str):
            found.append(code["Artifact"])
    return sorted(set(found))


class StackEngine:
    """Plans, deploys and removes stacks through the kinds' typed commands."""

    def __init__(self, store: StackStore, services: Services, kinds: Mapping[str, Kind],
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.store = store
        self.services = services
        self.kinds = dict(kinds)
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self.on_changed: list[Callable[[], object]] = []  # told after every operation

    # ----- reading ------------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.store.names()

    def get(self, name: str) -> StackRecord:
        doc = self.store.get(name)
        if doc is None:
            raise no_stack(name)
        return StackRecord.from_doc(doc)

    def find(self, name: str) -> StackRecord | None:
        doc = self.store.get(name)
        return None if doc is None else StackRecord.from_doc(doc)

    def artifacts_in_use(self) -> set[str]:
        return {sha for name in self.store.names() for sha in self.get(name).artifacts}

    # ----- planning -----------------------------------------------------------------------
    def plan(self, name: str, doc: Mapping[str, Any], endpoint: str) -> list[Change]:
        """What deploying `doc` would do, nothing changed."""
        check_stack_name(name)
        template = parse_template(doc)
        record = self.find(name) or StackRecord(name)
        ctx = Context(self.services, name, endpoint)
        changes: dict[str, Change] = {}
        for lid in template.order():
            spec = template.resources[lid]
            old = record.resources.get(lid)
            changes[lid] = self._plan_one(ctx, record, spec, old, changes)
        for lid in self._deletion_order(record, template):
            old = record.resources[lid]
            action = "retain" if self._retained(old) else "delete"
            changes[lid] = Change(lid, old.type, action, "not in the template any more")
        return list(changes.values())

    def _plan_one(self, ctx: Context, record: StackRecord, spec: ResourceSpec,
                  old: Applied | None, planned: Mapping[str, Change]) -> Change:  # fmt: skip
        lid, kind = spec.logical_id, self.kinds.get(spec.type)
        if kind is None:
            return Change(lid, spec.type, "skip", "firebox does not make this type")
        if old is None:
            return Change(lid, spec.type, "create")
        if old.type != spec.type:
            return Change(lid, spec.type, "replace", f"its type changed from {old.type}")
        pending = {k for k, c in planned.items() if c.action in ("create", "replace")}
        try:
            props = resolve(dict(spec.properties), self._scope(ctx, record, pending))
        except Unknown as unknown:
            return Change(lid, spec.type, "update", f"{unknown.logical_id} changes")
        if props == old.properties:
            return Change(lid, spec.type, "unchanged")
        differing = sorted(k for k in set(props) | set(old.properties)
                           if props.get(k) != old.properties.get(k))  # fmt: skip
        action = "replace" if kind.replaces(old.properties, props) else "update"
        return Change(lid, spec.type, action, ", ".join(differing))

    def _scope(self, ctx: Context, record: StackRecord, pending: set[str]) -> Scope:
        def ref(lid: str) -> Any:
            return attribute(lid, "Ref")

        def attribute(lid: str, name: str) -> Any:
            if lid in pending:
                raise Unknown(lid)
            applied = record.resources.get(lid)
            if applied is None:
                raise Unknown(lid)
            if name not in applied.attributes:
                if applied.attributes.get("Skipped"):
                    raise validation(f"Template error: {lid} ({applied.type}) is not made by "
                                     f"firebox, so it has no attribute {name}")  # fmt: skip
                raise validation(f"Template error: resource {lid} does not support attribute "
                                 f"type {name} in Fn::GetAtt")  # fmt: skip
            return applied.attributes[name]

        s = self.services
        pseudo = {"AWS::AccountId": s.account, "AWS::Region": s.region,
                  "AWS::StackName": ctx.stack, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": [],
                  "AWS::StackId": f"arn:aws:cloudformation:{s.region}:{s.account}:stack/"
                                  f"{ctx.stack}/firebox"}  # fmt: skip
        return Scope(pseudo, ref, attribute)

    def _deletion_order(self, record: StackRecord, template: Template | None) -> list[str]:
        """Resources the template dropped, dependents first."""
        gone = {lid: a for lid, a in record.resources.items()
                if template is None or lid not in template.resources}  # fmt: skip
        order = topological({lid: tuple(d for d in a.depends_on if d in gone)
                             for lid, a in gone.items()})  # fmt: skip
        return list(reversed(order))

    def _retained(self, applied: Applied) -> bool:
        return applied.retain or applied.type == "AWS::Lambda::Version"

    # ----- applying -----------------------------------------------------------------------
    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def deploy(self, name: str, doc: Mapping[str, Any], endpoint: str,
                     progress: Progress = lambda event: None) -> StackRecord:  # fmt: skip
        """Applies `doc`; the record says how it went (a failure is in its status)."""
        check_stack_name(name)
        template = parse_template(doc)
        async with self._lock(name):
            record = self.find(name)
            creating = record is None or not record.resources
            record = record or StackRecord(name, created=self.clock())
            verb = "CREATE" if creating else "UPDATE"
            record.status, record.reason, record.updated = f"{verb}_IN_PROGRESS", "", self.clock()
            record.template = dict(doc)
            # The new packages and the old: until the old resources are gone both are in use.
            record.artifacts = sorted(set(record.artifacts) | set(artifacts_of(doc)))
            record.warnings = []
            self._save(record)
            ctx = Context(self.services, name, endpoint)
            try:
                for lid in template.order():
                    await self._apply_one(ctx, record, template.resources[lid], progress)
                for lid in self._deletion_order(record, template):
                    await self._delete_one(ctx, record, lid, progress)
            except _Failed as failed:
                record.status, record.reason = f"{verb}_FAILED", failed.reason
            else:
                record.status = f"{verb}_COMPLETE"
                record.artifacts = artifacts_of(doc)
            record.outputs = self._outputs(ctx, record, template)
            record.warnings = ctx.warnings
            self._save(record)
        self._changed()
        return record

    async def _apply_one(self, ctx: Context, record: StackRecord, spec: ResourceSpec,
                         progress: Progress) -> None:  # fmt: skip
        lid, kind = spec.logical_id, self.kinds.get(spec.type)
        old = record.resources.get(lid)
        if kind is None:
            ctx.warnings.append(f"{lid}: firebox does not make {spec.type} resources; skipped")
            record.resources[lid] = Applied(lid, spec.type, _guess_name(spec, ctx.stack),
                                            dict(spec.properties),
                                            {"Ref": _guess_name(spec, ctx.stack), "Skipped": True},
                                            spec.depends_on, True)  # fmt: skip
            progress(StackEvent(lid, spec.type, "skip", "skipped",
                                "firebox does not make this type"))  # fmt: skip
            return
        try:
            props = resolve(dict(spec.properties), self._scope(ctx, record, set()))
        except Unknown as unknown:  # a dependency failed or was skipped: reported at it
            raise _Failed(f"{lid}: {unknown.logical_id} is not available") from None
        except LambdaError as exc:
            progress(StackEvent(lid, spec.type, "create" if old is None else "update", "failed",
                                _message(exc)))  # fmt: skip
            raise _Failed(f"{lid}: {_message(exc)}") from None
        if old is not None and old.type == spec.type and old.properties == props:
            if old.depends_on != spec.depends_on or old.retain != spec.retain:
                record.resources[lid] = Applied(
                    lid,
                    spec.type,
                    old.physical_id,
                    props,
                    old.attributes,
                    spec.depends_on,
                    spec.retain,
                )
            progress(StackEvent(lid, spec.type, "unchanged", "done"))
            return
        replacing = old is not None and (old.type != spec.type
                                         or kind.replaces(old.properties, props))  # fmt: skip
        action = "create" if old is None else "replace" if replacing else "update"
        progress(StackEvent(lid, spec.type, action, "started"))
        began = time.monotonic()
        try:
            if old is not None and replacing:
                # Deleted first: a named resource cannot exist twice (CloudFormation would
                # refuse such a replacement; firebox makes it).
                await self._kind(old.type).delete(ctx, old)
                del record.resources[lid]
                self._save(record)
                old = None
            values = Props(lid, props)
            made = (await kind.create(ctx, lid, values) if old is None
                    else await kind.update(ctx, values, old))  # fmt: skip
        except Exception as exc:  # any service's refusal: reported, the rest left for later
            progress(StackEvent(lid, spec.type, action, "failed", _message(exc),
                                _ms_since(began)))  # fmt: skip
            raise _Failed(f"{lid}: {_message(exc)}") from None
        record.resources[lid] = Applied(lid, spec.type, made.physical_id, props, made.attributes,
                                        spec.depends_on, spec.retain)  # fmt: skip
        self._save(record)
        progress(StackEvent(lid, spec.type, action, "done", elapsed_ms=_ms_since(began)))

    async def _delete_one(self, ctx: Context, record: StackRecord, lid: str,
                          progress: Progress) -> None:  # fmt: skip
        old = record.resources[lid]
        retained = self._retained(old) or old.attributes.get("Skipped")
        action = "retain" if retained else "delete"
        progress(StackEvent(lid, old.type, action, "started"))
        began = time.monotonic()
        if not retained:
            try:
                await self._kind(old.type).delete(ctx, old)
            except Exception as exc:
                progress(StackEvent(lid, old.type, action, "failed", _message(exc),
                                    _ms_since(began)))  # fmt: skip
                raise _Failed(f"{lid}: {_message(exc)}") from None
        del record.resources[lid]
        self._save(record)
        progress(StackEvent(lid, old.type, action, "done", elapsed_ms=_ms_since(began)))

    def _kind(self, type_name: str) -> Kind:
        kind = self.kinds.get(type_name)
        if kind is None:
            raise validation(f"firebox does not make {type_name} resources")
        return kind

    def _outputs(self, ctx: Context, record: StackRecord, template: Template) -> dict[str, Any]:
        scope = self._scope(ctx, record, set())
        out: dict[str, Any] = {}
        for name, spec in template.outputs.items():
            try:
                value: Any = resolve(spec.value, scope)
            except (Unknown, LambdaError) as exc:
                value = None
                ctx.warnings.append(f"output {name}: no value ({_message(exc)})")
            out[name] = {"Value": value, "Description": spec.description}
        return out

    async def remove(self, name: str, endpoint: str,
                     progress: Progress = lambda event: None) -> StackRecord:  # fmt: skip
        """Deletes everything the stack made (versions and retained resources stay)."""
        async with self._lock(name):
            record = self.get(name)
            record.status, record.reason = "DELETE_IN_PROGRESS", ""
            self._save(record)
            ctx = Context(self.services, name, endpoint)
            try:
                for lid in self._deletion_order(record, None):
                    await self._delete_one(ctx, record, lid, progress)
            except _Failed as failed:
                record.status, record.reason = "DELETE_FAILED", failed.reason
                self._save(record)
            else:
                record.status = "DELETE_COMPLETE"
                self.store.delete(name)
        self._changed()
        return record

    def _save(self, record: StackRecord) -> None:
        self.store.put(record.name, record.to_doc())

    def _changed(self) -> None:
        for listener in self.on_changed:
            listener()


def _ms_since(began: float) -> float:
    return round((time.monotonic() - began) * 1000, 1)


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

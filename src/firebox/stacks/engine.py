"""Stacks applied as CloudFormation applies them: a plan (create, update, replace, delete or
unchanged per resource), then each change in dependency order, the record written after every
one, so a failure part-way leaves a state the next deploy repairs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from firebox.domain.errors import LambdaError
from firebox.stacks.errors import no_stack, validation
from firebox.stacks.intrinsics import Scope, Unknown, resolve
from firebox.stacks.kinds.base import Applied, Context, Kind, Made, Props, Services
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
    # Replaced resources still to delete (the new one made first), and resources whose create
    # began but was never recorded (a crash): the next deploy takes them over if they exist.
    orphans: list[Applied] = field(default_factory=list)
    # logical id → {"type", "name" (the physical id the create would give, if known),
    # "properties"}: saved before a create's service call, cleared once it is on record
    creating: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["resources"] = {k: asdict(v) for k, v in self.resources.items()}
        doc["orphans"] = [asdict(o) for o in self.orphans]
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> StackRecord:
        fields = dict(doc)
        fields["resources"] = {k: _applied(v) for k, v in doc.get("resources", {}).items()}
        fields["orphans"] = [_applied(v) for v in doc.get("orphans", [])]
        return cls(**fields)


def _applied(doc: Mapping[str, Any]) -> Applied:
    return Applied(**{**doc, "depends_on": tuple(doc.get("depends_on", ()))})


# Error types that say a name is taken: a replacement that keeps its name deletes first.
CONFLICTS = frozenset({"ResourceConflictException", "AlreadyExistsException",
                       "EntityAlreadyExists", "QueueNameExists", "BucketAlreadyOwnedByYou",
                       "BucketAlreadyExists", "ResourceAlreadyExistsException",
                       "ConflictException"})  # fmt: skip


def _same_place(kind: Kind, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two property sets put a resource of this kind in the same place (a rule on
    the same bus, a permission on the same function): its `location` properties."""
    return all(a.get(p) == b.get(p) for p in getattr(kind, "location", ()))


def _conflict(exc: BaseException) -> bool:
    return isinstance(exc, LambdaError) and exc.error_type in CONFLICTS


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
        properties = body.get("Properties") or {}
        for member in ("Code", "Content"):  # functions' and layers'
            code = properties.get(member)
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
                # The clean-up: what the template dropped (dependents first), then what
                # replacements left, newest first.
                for lid in self._deletion_order(record, template):
                    await self._delete_one(ctx, record, lid, progress)
                await self._clean_up(ctx, record, progress)
                await self._sweep(ctx, record)
            except _Failed as failed:
                record.status, record.reason = f"{verb}_FAILED", failed.reason
            except BaseException as exc:  # firebox's own failure, or a cancellation: on record
                record.status, record.reason = f"{verb}_FAILED", f"firebox: {_message(exc)}"
                self._save(record)
                raise
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
            if old is not None and not old.attributes.get("Skipped") and old.type != spec.type:
                record.orphans.append(old)  # a type firebox made before: deleted at clean-up
            progress(StackEvent(lid, spec.type, "skip", "skipped",
                                "firebox does not make this type"))  # fmt: skip
            return
        if old is not None and old.attributes.get("Skipped"):
            del record.resources[lid]  # was skipped (another type): nothing made to replace
            old = None
        try:
            props = resolve(dict(spec.properties), self._scope(ctx, record, set()))
        except Unknown as unknown:  # a dependency failed or was skipped: reported at it
            raise _Failed(f"{lid}: {unknown.logical_id} is not available") from None
        except Exception as exc:  # a template error only resolving finds (a bad argument)
            progress(StackEvent(lid, spec.type, "create" if old is None else "update", "failed",
                                _message(exc)))  # fmt: skip
            raise _Failed(f"{lid}: {_message(exc)}") from None
        # A dependency made again (deleted first: it kept its name) took what hung on it
        # with it, as the services forget what names a deleted function or alias.
        forced = old is not None and bool(set(spec.depends_on) & ctx.recreated)
        if old is not None and old.type == spec.type and old.properties == props and not forced:
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
        replacing = old is not None and (forced or old.type != spec.type
                                         or kind.replaces(old.properties, props))  # fmt: skip
        action = "create" if old is None else "replace" if replacing else "update"
        progress(StackEvent(lid, spec.type, action, "started"))
        began = time.monotonic()
        values = Props(lid, props)
        deleted = False
        try:
            if old is not None and forced:
                with contextlib.suppress(Exception):  # gone with its dependency, most likely
                    await self._kind(old.type).delete(ctx, old)
                del record.resources[lid]
                self._save(record)
                if getattr(kind, "cascades", False):
                    ctx.recreated.add(lid)
                old, deleted = None, True
            if old is not None and not replacing:
                made = await kind.update(ctx, values, old)
            else:
                made, deleted_first = await self._create(ctx, record, kind, values, old)
                deleted = deleted or deleted_first
        except Exception as exc:  # any service's refusal: reported, the rest left for later
            progress(StackEvent(lid, spec.type, action, "failed", _message(exc),
                                _ms_since(began)))  # fmt: skip
            raise _Failed(f"{lid}: {_message(exc)}") from None
        if old is not None and replacing and not deleted and self._elsewhere(kind, old, made,
                                                                             props):  # fmt: skip
            if self._retained(old):
                progress(StackEvent(lid, old.type, "retain", "done",
                                    f"the replaced {old.physical_id} is kept"))  # fmt: skip
            else:
                record.orphans.append(old)  # the old one goes at clean-up, after every change
        record.resources[lid] = Applied(lid, spec.type, made.physical_id, props, made.attributes,
                                        spec.depends_on, spec.retain)  # fmt: skip
        record.creating.pop(lid, None)
        self._save(record)
        progress(StackEvent(lid, spec.type, action, "done", elapsed_ms=_ms_since(began)))

    def _elsewhere(self, kind: Kind, old: Applied, made: Made, props: Mapping[str, Any]) -> bool:
        """Whether a replacement made another resource than `old` (then `old` must go)."""
        if old.type != kind.type_name or made.physical_id != old.physical_id:
            return True
        return not _same_place(kind, old.properties, props)

    async def _create(self, ctx: Context, record: StackRecord, kind: Kind, values: Props,
                      old: Applied | None) -> tuple[Made, bool]:  # fmt: skip
        """A new resource (for a replacement: made before the old one goes, unless it keeps
        the old one's name); True with it when the old one was deleted first. A resource of
        this stack that is already there by that name is taken back: one a replacement left
        for clean-up (a rename reverted), or one a crash kept off the record."""
        lid = values.logical_id
        name = kind.name(ctx, lid, values)
        same_place = (
            old is not None
            and old.type == kind.type_name
            and name == old.physical_id
            and _same_place(kind, old.properties, values.values)
        )
        if name is not None:
            for orphan in record.orphans:
                if (orphan.type == kind.type_name and orphan.physical_id == name
                        and _same_place(kind, orphan.properties, values.values)):  # fmt: skip
                    record.orphans.remove(orphan)
                    return await kind.update(ctx, values, orphan), False
        marker = record.creating.get(lid) or {}
        # (by the name the interrupted create was going to give; a kind without names finds
        # its resource by what it points at, as a mapping by its function and queue)
        if marker.get("type") == kind.type_name and marker.get("name") == name and \
                not same_place:  # fmt: skip
            adopted = await kind.adopt(ctx, lid, values)
            if adopted is not None:
                return adopted, False
        record.creating[lid] = {"type": kind.type_name, "name": name, "properties": values.values}
        self._save(record)  # before the service call: a crash after it is found next time
        try:
            try:
                return await kind.create(ctx, lid, values), False
            except Exception as exc:
                if old is None or not same_place or not _conflict(exc) or self._retained(old):
                    raise
            # It keeps the old one's name (CloudFormation refuses that): the old one first.
            await kind.delete(ctx, old)
            del record.resources[lid]
            if getattr(kind, "cascades", False):
                ctx.recreated.add(lid)  # what hangs on it went with it: made again too
            self._save(record)
            return await kind.create(ctx, lid, values), True
        except Exception:
            record.creating.pop(lid, None)
            self._save(record)
            raise

    async def _sweep(self, ctx: Context, record: StackRecord) -> None:
        """Creates a crash interrupted and no deploy took over since: deleted, if they exist
        under the name they were going to have (only this stack's creates leave a marker)."""
        for lid, marker in list(record.creating.items()):
            kind, name = self.kinds.get(str(marker.get("type"))), marker.get("name")
            recorded = any(r.type == marker.get("type") and r.physical_id == name
                           for r in [*record.resources.values(), *record.orphans])  # fmt: skip
            if kind is not None and name is not None and not recorded:
                leftover = Applied(lid, kind.type_name, str(name),
                                   dict(marker.get("properties") or {}), {})  # fmt: skip
                try:
                    await kind.delete(ctx, leftover)
                except Exception as exc:
                    ctx.warnings.append(f"{lid}: an interrupted create left {name}, which could "
                                        f"not be deleted ({_message(exc)})")  # fmt: skip
            del record.creating[lid]
            self._save(record)

    async def _clean_up(self, ctx: Context, record: StackRecord, progress: Progress) -> None:
        """Deletes what replacements left (CloudFormation's clean-up phase), newest first."""
        for old in reversed(list(record.orphans)):
            began = time.monotonic()
            if not self._retained(old):
                progress(StackEvent(old.logical_id, old.type, "delete", "started"))
                try:
                    kind = self.kinds.get(old.type)
                    if kind is not None:
                        await kind.delete(ctx, old)
                except Exception as exc:
                    progress(StackEvent(old.logical_id, old.type, "delete", "failed",
                                        _message(exc), _ms_since(began)))  # fmt: skip
                    raise _Failed(f"{old.logical_id} (replaced): {_message(exc)}") from None
                progress(StackEvent(old.logical_id, old.type, "delete", "done",
                                    elapsed_ms=_ms_since(began)))  # fmt: skip
            record.orphans.remove(old)
            self._save(record)

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
                await self._sweep(ctx, record)
                for lid in self._deletion_order(record, None):
                    await self._delete_one(ctx, record, lid, progress)
                await self._clean_up(ctx, record, progress)
            except _Failed as failed:
                record.status, record.reason = "DELETE_FAILED", failed.reason
                self._save(record)
            except BaseException as exc:
                record.status, record.reason = "DELETE_FAILED", f"firebox: {_message(exc)}"
                self._save(record)
                raise
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

"""What every resource type implements, and what it is given to do it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from firebox.stacks.errors import StackError, validation

if TYPE_CHECKING:
    from firebox.control.concurrency import Concurrency
    from firebox.control.event_configs import EventConfigs
    from firebox.control.event_sources import EventSourceMappings
    from firebox.control.function_urls import FunctionUrls
    from firebox.control.functions import FunctionService
    from firebox.control.http_routes import HttpRoutes
    from firebox.control.layers import LayerService
    from firebox.control.policies import FunctionPolicies
    from firebox.control.releases import Releases
    from firebox.eventbridge.service import EventService
    from firebox.iam.roles import Roles
    from firebox.objects.service import ObjectService
    from firebox.queues.service import QueueService
    from firebox.scheduler.service import SchedulerService
    from firebox.telemetry.logstore import LogStore
    from firebox.topics.service import TopicService


@dataclass
class Services:
    """The platform's services a stack's resources are made with (their typed commands)."""

    functions: FunctionService
    releases: Releases
    concurrency: Concurrency
    urls: FunctionUrls
    policies: FunctionPolicies
    mappings: EventSourceMappings
    event_configs: EventConfigs
    layers: LayerService
    routes: HttpRoutes
    queues: QueueService
    objects: ObjectService
    topics: TopicService
    events: EventService
    scheduler: SchedulerService
    roles: Roles
    logs: LogStore
    logs_changed: Callable[[], None]  # retention changed: old events deleted now
    artifact: Callable[[str], bytes]  # a package uploaded for a deploy, by its SHA-256
    region: str
    account: str


@dataclass
class Context:
    """One resource operation: the services, the stack, where the API is reached."""

    services: Services
    stack: str
    endpoint: str  # http://host:port, as the deploying client reached the server
    http_prefix: str = "/http"  # where HTTP routes are served
    warnings: list[str] = field(default_factory=list)
    recreated: set[str] = field(default_factory=set)  # logical ids deleted, then made again

    def generated_name(self, logical_id: str, limit: int, lower: bool = False) -> str:
        """A name for a resource the template does not name: stack-LogicalId-SUFFIX, as
        CloudFormation makes one (the suffix stable for a stack and logical id)."""
        digest = hashlib.sha256(f"{self.stack}/{logical_id}".encode()).hexdigest()
        suffix = digest[:12].upper()
        head = f"{self.stack}-{logical_id}"[: limit - len(suffix) - 1]
        name = f"{head}-{suffix}"
        return name.lower() if lower else name


@dataclass(frozen=True)
class Made:
    """What a resource operation leaves: the physical id and the attributes (Ref included)."""

    physical_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Applied:
    """A resource as the stack last made it."""

    logical_id: str
    type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, Any]
    depends_on: tuple[str, ...] = ()
    retain: bool = False


class Kind(Protocol):
    """One resource type: made, changed (in place unless `replaces` says so), deleted."""

    type_name: ClassVar[str]

    def replaces(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool: ...

    def name(self, ctx: Context, logical_id: str, props: Props) -> str | None:
        """The physical id a create of these properties gives, when it is known beforehand
        (None for ids the service draws). With the kind's `location` properties (a rule's
        bus, a permission's function), it says which resource that is."""
        ...

    async def create(self, ctx: Context, logical_id: str, props: Props) -> Made: ...

    async def update(self, ctx: Context, props: Props, old: Applied) -> Made: ...

    async def delete(self, ctx: Context, old: Applied) -> None: ...

    async def adopt(self, ctx: Context, logical_id: str, props: Props) -> Made | None:
        """Takes over the resource a create of this logical id made before a crash kept it
        off the record, brought to `props`; None when there is none."""
        ...


def already_exists(kind: str, name: str) -> Exception:
    """A named resource that exists outside this stack: never taken over (CloudFormation's
    "already exists"), so that removing the stack cannot delete what it did not make."""
    return StackError("AlreadyExistsException",
                      f"{kind} {name} already exists (made outside this stack, or by another "
                      "one): give this resource another name, or delete that one", 409)  # fmt: skip


def adopted(logical_id: str, type_name: str, physical_id: str) -> Applied:
    """The record of a resource found rather than made: every property to apply."""
    return Applied(logical_id, type_name, physical_id, {}, {})


def text_value(value: Any) -> str:
    """A property value as text the way CloudFormation converts it (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


class Props:
    """A resource's resolved properties, read with CloudFormation's checks and messages."""

    def __init__(self, logical_id: str, values: Mapping[str, Any]) -> None:
        self.logical_id = logical_id
        self.values = dict(values)

    def fail(self, message: str) -> Exception:
        """CloudFormation's validation error for this resource's properties."""
        return validation(
            f"Properties validation failed for resource {self.logical_id} with message: {message}"
        )

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def required(self, name: str) -> Any:
        if self.values.get(name) in (None, ""):
            raise self.fail(f"#: required key [{name}] not found")
        return self.values[name]

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise self.fail(
                f"#/{name}: expected type: String, found: "
                f"{'JSONObject' if isinstance(value, dict) else 'JSONArray'}"
            )
        return str(value).lower() if isinstance(value, bool) else str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        try:
            return int(str(value))
        except ValueError:
            raise self.fail(f"#/{name}: expected type: Integer, found: String") from None

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise self.fail(f"#/{name}: expected type: Boolean, found: String")

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.values.get(name) or {}
        if not isinstance(value, dict):
            raise self.fail(f"#/{name}: expected type: JSONObject, found: String")
        return value

    def items(self, name: str) -> list[Any]:
        value = self.values.get(name) or []
        if not isinstance(value, list):
            raise self.fail(f"#/{name}: expected type: JSONArray, found: JSONObject")
        return value

    def document(self, name: str) -> str | None:
        """A policy or pattern given as an object (or as its JSON text)."""
        value = self.values.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def tags(self) -> dict[str, str]:
        """Tags as CloudFormation lists them ([{Key, Value}]) or as a map."""
        value = self.values.get("Tags") or []
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return {str(t["Key"]): str(t.get("Value", "")) for t in value}


def changed(old: Mapping[str, Any], new: Mapping[str, Any], names: tuple[str, ...]) -> bool:
    """Whether any of these properties differ."""
    return any(old.get(n) != new.get(n) for n in names)


def arn_tail(arn: str) -> str:
    """The last part of an ARN (a name), or the text itself."""
    return re.split(r"[:/]", arn)[-1]

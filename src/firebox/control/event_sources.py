"""Event source mappings: Create/Get/List/Update/DeleteEventSourceMapping, their rules and
states. The pollers (eventsources/) follow what is stored here."""

from __future__ import annotations

import builtins
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from firebox import filtering
from firebox.control.catalog import Catalog
from firebox.domain.arns import FunctionRef, parse_function_ref
from firebox.domain.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.queues.service import QueueService
from firebox.storage.base import Change

DEFAULT_BATCH = 10
DEFAULT_CONCURRENCY = 5  # pollers per mapping without ScalingConfig (AWS scales to 1,250)


@dataclass(frozen=True)
class EventSourceMapping:
    """One mapping: a queue whose messages a function gets in batches."""

    uuid: str
    function_name: str  # the name as given, with its qualifier (fn, fn:alias)
    source_arn: str
    batch_size: int = DEFAULT_BATCH
    window_s: int = 0
    enabled: bool = True
    filters: list[dict[str, str]] = field(default_factory=list)  # [{"Pattern": "..."}]
    max_concurrency: int | None = None
    response_types: list[str] = field(default_factory=list)
    state: str = "Creating"
    state_reason: str = "USER_INITIATED"
    last_result: str = "No records processed"
    modified: float = 0.0

    @property
    def ref(self) -> FunctionRef:
        return parse_function_ref(self.function_name)

    @property
    def concurrency(self) -> int:
        return self.max_concurrency or DEFAULT_CONCURRENCY

    def patterns(self) -> list[dict[str, Any]]:
        return [json.loads(f["Pattern"]) for f in self.filters]


def _config(mapping: EventSourceMapping | None) -> tuple[object, ...] | None:
    """What a poller runs by (not its state or its latest result)."""
    if mapping is None:
        return None
    return (mapping.function_name, mapping.source_arn, mapping.batch_size, mapping.window_s,
            mapping.enabled, json.dumps(mapping.filters), mapping.max_concurrency,
            tuple(mapping.response_types))  # fmt: skip


@dataclass(frozen=True)
class MappingChange:
    """What UpdateEventSourceMapping may change (None: as it is)."""

    function_name: str | None = None
    batch_size: int | None = None
    window_s: int | None = None
    enabled: bool | None = None
    filters: list[dict[str, str]] | None = None
    max_concurrency: int | None = None  # 0: remove it
    response_types: list[str] | None = None


class EventSourceMappings:
    """Every mapping, in memory and in the store; listeners hear each change."""

    def __init__(self, catalog: Catalog, queues: QueueService,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.catalog = catalog
        self.store = catalog.store
        self.queues = queues
        self.clock = clock
        self._mappings: dict[str, EventSourceMapping] = {}
        self.listeners: list[Callable[[EventSourceMapping | None, str], None]] = []

    def load(self) -> None:
        for doc in self.store.mappings():
            mapping = EventSourceMapping(**doc)  # type: ignore[arg-type]
            # Stored mid-change (a crash between two writes): it rests where it was going.
            rest = "Enabled" if mapping.enabled else "Disabled"
            self._mappings[mapping.uuid] = replace(mapping, state=rest)

    def refresh(self, changes: list[Change]) -> None:
        """Mappings changed in the store (by another process, or echoes of this one's own
        writes): read them again, telling listeners only of real changes to a mapping's
        configuration; what this process knows of its pollers' results is kept."""
        before = dict(self._mappings)
        self._mappings.clear()
        self.load()
        for key in set(before) | set(self._mappings):
            old, new = before.get(key), self._mappings.get(key)
            if old is not None and new is not None:
                self._mappings[key] = new = replace(new, last_result=old.last_result)
            if _config(old) != _config(new):
                self._tell(new, key)

    def arn(self, mapping: EventSourceMapping) -> str:
        arns = self.catalog.arns
        return f"arn:aws:lambda:{arns.region}:{arns.account_id}:event-source-mapping:{mapping.uuid}"

    def get(self, key: str) -> EventSourceMapping:
        mapping = self._mappings.get(key)
        if mapping is None:
            raise ResourceNotFoundException(f"The resource you requested does not exist. "
                                            f"(Service: Lambda, Status Code: 404, Request ID: "
                                            f"{uuid.uuid4()})")  # fmt: skip
        return mapping

    def list(self, function_name: str | None = None,
             source_arn: str | None = None) -> list[EventSourceMapping]:  # fmt: skip
        found = sorted(self._mappings.values(), key=lambda m: m.uuid)
        if function_name is not None:
            name = parse_function_ref(function_name).name
            found = [m for m in found if m.ref.name == name]
        if source_arn is not None:
            found = [m for m in found if m.source_arn == source_arn]
        return found

    def all(self) -> builtins.list[EventSourceMapping]:
        return list(self._mappings.values())

    async def create(self, function_name: str, source_arn: str, change: MappingChange
                     ) -> EventSourceMapping:  # fmt: skip
        async with self.catalog.lock:
            mapping = EventSourceMapping(str(uuid.uuid4()), function_name, source_arn,
                                         modified=self.clock())  # fmt: skip
            mapping = self._apply(mapping, change)
            self._check(mapping)
            for other in self._mappings.values():
                if other.source_arn == source_arn and other.ref.name == mapping.ref.name:
                    raise ResourceConflictException(
                        f'An event source mapping with SQS arn (" {source_arn} ") and function '
                        f'(" {mapping.ref.name} ") already exists. Please update or delete the '
                        f"existing mapping with UUID {other.uuid}"
                    )
            state = "Creating"
            saved = self._save(replace(mapping, state=state))
        # Nothing to wait for locally: the poller starts at once (Creating → Enabled).
        return self._settle(saved, "Enabled" if saved.enabled else "Disabled")

    async def update(self, key: str, change: MappingChange) -> EventSourceMapping:
        async with self.catalog.lock:
            current = self.get(key)
            mapping = self._apply(current, change)
            self._check(mapping)
            state = "Updating"
            if mapping.enabled != current.enabled:
                state = "Enabling" if mapping.enabled else "Disabling"
            saved = self._save(replace(mapping, state=state, modified=self.clock()))
        return self._settle(saved, "Enabled" if saved.enabled else "Disabled")

    async def delete(self, key: str) -> EventSourceMapping:
        async with self.catalog.lock:
            mapping = replace(self.get(key), state="Deleting")
            self.store.delete_mapping(key)
            self._mappings.pop(key, None)
        self._tell(None, key)
        return mapping

    def record(self, key: str, result: str) -> None:
        """A poller's latest outcome (LastProcessingResult), kept in memory."""
        mapping = self._mappings.get(key)
        if mapping is not None and mapping.last_result != result:
            self._mappings[key] = replace(mapping, last_result=result)

    def _settle(self, mapping: EventSourceMapping, state: str) -> EventSourceMapping:
        """Moves a mapping from its transitional state to its resting one, once its poller has
        been told; answers the transitional one, as AWS's API does."""
        rested = replace(mapping, state=state)
        self.store.put_mapping(mapping.uuid, asdict(rested))
        self._mappings[mapping.uuid] = rested
        self._tell(rested, mapping.uuid)
        return mapping

    def _save(self, mapping: EventSourceMapping) -> EventSourceMapping:
        self.store.put_mapping(mapping.uuid, asdict(mapping))
        self._mappings[mapping.uuid] = mapping
        return mapping

    def _tell(self, mapping: EventSourceMapping | None, key: str) -> None:
        for listener in self.listeners:
            listener(mapping, key)

    def _apply(self, mapping: EventSourceMapping, change: MappingChange) -> EventSourceMapping:
        values = {k: v for k, v in asdict(change).items() if v is not None}
        if "filters" in values:
            values["filters"] = [dict(f) for f in values["filters"]]
        if values.get("max_concurrency") == 0:  # ScalingConfig {}: no maximum any more
            values["max_concurrency"] = None
        return replace(mapping, **values)

    def _check(self, mapping: EventSourceMapping) -> None:
        """AWS's rules for an SQS mapping (the function exists, the queue too, the sizes)."""
        deployed = self.catalog.deployed(mapping.ref)  # ResourceNotFoundException
        queue = self.queues.by_arn(mapping.source_arn)
        if not mapping.source_arn.startswith("arn:aws:sqs:"):
            raise InvalidParameterValueException(
                "Unsupported event source type: firebox maps SQS queues "
                f"(arn:aws:sqs:...), not {mapping.source_arn[:100]}"
            )
        if queue is None:
            raise InvalidParameterValueException(
                "Error occurred while ReceiveMessage. SQS Error Code: "
                "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified "
                "queue does not exist."
            )
        limit = 10 if queue.fifo else 10000
        if not 1 <= mapping.batch_size <= limit:
            raise InvalidParameterValueException(
                f"BatchSize must be between 1 and {limit} for {'FIFO' if queue.fifo else 'SQS'} "
                "queues."
            )
        if not 0 <= mapping.window_s <= 300:
            raise InvalidParameterValueException(
                "MaximumBatchingWindowInSeconds must be between 0 and 300."
            )
        if mapping.batch_size > 10 and mapping.window_s < 1:
            raise InvalidParameterValueException(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size "
                "is greater than 10"
            )
        if queue.fifo and mapping.window_s:
            raise InvalidParameterValueException("Batching window is not supported for FIFO "
                                                 "queues.")  # fmt: skip
        if mapping.max_concurrency is not None and not 2 <= mapping.max_concurrency <= 1000:
            raise InvalidParameterValueException(
                "ScalingConfig.MaximumConcurrency must be between 2 and 1000."
            )
        for kind in mapping.response_types:
            if kind != "ReportBatchItemFailures":
                raise InvalidParameterValueException(f"Unsupported FunctionResponseType {kind}")
        for item in mapping.filters:
            try:
                filtering.check(json.loads(str(item.get("Pattern", ""))))
            except (ValueError, filtering.PatternError):
                raise InvalidParameterValueException("Invalid filter pattern definition.") from None
        visibility = queue.number("VisibilityTimeout")
        timeout = deployed.record.timeout
        if visibility < timeout:
            raise InvalidParameterValueException(
                f"Queue visibility timeout: {visibility} seconds is less than Function timeout: "
                f"{timeout} seconds"
            )

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """Mappings outlive their function on AWS (they then fail): kept, said in the result."""
        for mapping in self._mappings.values():
            if mapping.ref.name == function_name and qualifier is None:
                self.record(mapping.uuid, "PROBLEM: Function not found")

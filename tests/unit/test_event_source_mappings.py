"""Event source mappings follow the store without disturbing their pollers needlessly."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from firebox.control.event_sources import EventSourceMapping, EventSourceMappings
from firebox.storage.memory import MemoryFunctionStore


def test_the_change_feed_tells_pollers_only_of_configuration_changes() -> None:
    store = MemoryFunctionStore()
    mapping = EventSourceMapping("u1", "fn", "arn:aws:sqs:us-east-1:000000000000:q",
                                 state="Enabled")  # fmt: skip
    store.put_mapping("u1", dataclasses.asdict(mapping))
    catalog: Any = SimpleNamespace(store=store)
    mappings = EventSourceMappings(catalog, queues=None)  # type: ignore[arg-type]
    mappings.load()
    told: list[str] = []
    mappings.listeners.append(lambda m, key: told.append(key))
    mappings.record("u1", "OK")  # the poller's result: in memory only
    mappings.refresh([])  # an echo of this process's own writes, say
    assert told == [] and mappings.get("u1").last_result == "OK"
    store.put_mapping("u1", dataclasses.asdict(dataclasses.replace(mapping, batch_size=5)))
    mappings.refresh([])  # another process changed its configuration: the poller restarts
    assert told == ["u1"] and mappings.get("u1").batch_size == 5
    store.delete_mapping("u1")
    mappings.refresh([])
    assert told == ["u1", "u1"]

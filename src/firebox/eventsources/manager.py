"""Keeps one poller running per enabled mapping, following every change to them."""

from __future__ import annotations

from collections.abc import Callable

from firebox.control.event_sources import EventSourceMapping, EventSourceMappings
from firebox.eventsources.poller import Invoke, Poller
from firebox.eventsources.sqs import SqsSource
from firebox.queues.service import QueueService


class PollerManager:
    """Starts, restarts and stops pollers as mappings are created, changed and deleted."""

    def __init__(self, mappings: EventSourceMappings, queues: QueueService, invoke: Invoke,
                 region: str) -> None:  # fmt: skip
        self.mappings = mappings
        self.queues = queues
        self.invoke = invoke
        self.region = region
        self.pollers: dict[str, Poller] = {}
        # Told how many records pollers read and filtered out: (metric, mapping uuid, count)
        self.observe: Callable[[str, str, int], None] | None = None
        mappings.listeners.append(self._changed)

    def start(self) -> None:
        for mapping in self.mappings.all():
            self._changed(mapping, mapping.uuid)

    def _changed(self, mapping: EventSourceMapping | None, key: str) -> None:
        old = self.pollers.pop(key, None)
        if old is not None:
            old.stop()
        if mapping is None or not mapping.enabled:
            return
        source = SqsSource(self.queues, mapping.source_arn, self.region)
        poller = Poller(mapping, source, self.invoke, self.mappings.record, self.observe)
        self.pollers[key] = poller
        poller.start()

    def close(self) -> None:
        for poller in self.pollers.values():
            poller.stop()
        self.pollers.clear()

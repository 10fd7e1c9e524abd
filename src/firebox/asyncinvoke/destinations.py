"""Delivering asynchronous invocations' records and dead letters to their destinations.

A delivery is a follow-up: work stored in the same transaction that settles the event, so a
record is exactly as durable as the event it describes.
"""

from __future__ import annotations

from firebox.asyncinvoke.queue import NewEvent
from firebox.domain.destinations import Destination, FunctionDestination
from firebox.worker.invocation import new_request_id


def deliver(target: Destination, payload: bytes, kind: str, now: float) -> list[NewEvent]:
    """The follow-ups that deliver payload to a target."""
    assert isinstance(target, FunctionDestination)  # the only kind there is yet
    return [NewEvent(target.name, target.qualifier, payload, new_request_id(), now, kind)]

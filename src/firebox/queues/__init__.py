"""Durable queues of Event invocations: an interface (base.py) and backends."""

from firebox.queues.base import EventQueue, NewEvent, QueuedEvent, Settlement
from firebox.queues.sqlite import SqliteEventQueue

__all__ = ["EventQueue", "NewEvent", "QueuedEvent", "Settlement", "SqliteEventQueue"]

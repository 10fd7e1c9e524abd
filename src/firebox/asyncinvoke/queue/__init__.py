"""Durable queues of Event invocations: an interface (base.py) and backends."""

from firebox.asyncinvoke.queue.base import EventQueue, NewEvent, QueuedEvent, Settlement
from firebox.asyncinvoke.queue.sqlite import SqliteEventQueue

__all__ = ["EventQueue", "NewEvent", "QueuedEvent", "Settlement", "SqliteEventQueue"]

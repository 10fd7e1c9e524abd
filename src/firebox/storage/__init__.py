"""Durable metadata stores: an interface and its backends."""

from firebox.storage.base import FunctionStore, StoreConflict
from firebox.storage.sqlite import SqliteFunctionStore

__all__ = ["FunctionStore", "SqliteFunctionStore", "StoreConflict"]

"""Durable metadata stores: an interface and its backends."""

from firebox.store.base import FunctionStore, StoreConflict
from firebox.store.sqlite import SqliteFunctionStore

__all__ = ["FunctionStore", "SqliteFunctionStore", "StoreConflict"]

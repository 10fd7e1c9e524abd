"""Sandboxes: where an execution environment's processes run. An interface and its backends."""

from firebox.sandboxes.base import Sandbox, SandboxFactory, SandboxSpec, SandboxState
from firebox.sandboxes.process import ProcessSandboxFactory

__all__ = ["ProcessSandboxFactory", "Sandbox", "SandboxFactory", "SandboxSpec", "SandboxState"]

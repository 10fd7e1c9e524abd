"""The isolated sandboxes' factory: a fresh sandbox, or a pre-built one from the reserve."""

from __future__ import annotations

from firebox.sandboxes.base import SandboxSpec
from firebox.sandboxes.host import IsolatedHost
from firebox.sandboxes.isolated import IsolatedSandbox
from firebox.sandboxes.reserve import SandboxReserve


class IsolatedSandboxFactory(IsolatedHost):
    """Makes isolated sandboxes on this host, taking pre-built ones when the reserve has one."""

    name = "isolated"
    mounts = True
    reserve: SandboxReserve[IsolatedSandbox] | None = None  # pre-built sandboxes (zygotes)

    def create(self, spec: SandboxSpec, prebuilt: bool = True) -> IsolatedSandbox:
        if prebuilt and self.reserve is not None and spec.zygote is not None:
            sandbox = self.reserve.take(spec.zygote)
            if sandbox is not None:
                sandbox.adopt(spec)
                return sandbox
        return IsolatedSandbox(spec, self)

    def prebuild(self, spec: SandboxSpec) -> IsolatedSandbox:
        """A sandbox to build ahead of any function, for the reserve."""
        return IsolatedSandbox(spec, self, prebuilt=True)

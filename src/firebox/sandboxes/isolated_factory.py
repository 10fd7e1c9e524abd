"""The isolated sandboxes' factory: a fresh sandbox, or a pre-built one from the reserve."""

from __future__ import annotations

from firebox.sandboxes.base import SandboxSpec
from firebox.sandboxes.host import IsolatedHost
from firebox.sandboxes.isolated import IsolatedSandbox
from firebox.sandboxes.reserve import SandboxReserve, Template


class IsolatedSandboxFactory(IsolatedHost):
    """Makes isolated sandboxes on this host, taking pre-built ones when the reserve has one."""

    name = "isolated"
    mounts = True
    reserve: SandboxReserve[IsolatedSandbox] | None = None  # pre-built sandboxes (zygotes)

    def create(self, spec: SandboxSpec, prebuilt: bool = True) -> IsolatedSandbox:
        sandbox = None
        if prebuilt and self.reserve is not None:
            if spec.zygote is not None:
                sandbox = self.reserve.take(spec.zygote)
            elif spec.early and not self.slirp4netns and self.groups.version != "none":
                # (Not where slirp's interface comes after the start, nor where the memory
                # limit is a per-process one that needs the function's MemorySize.)
                # Keyed by everything the running program was started with: its command
                # (Node's heap size is in it) and what it sees mounted.
                template = Template(spec.mounts, argv=tuple(spec.argv))
                sandbox = self.reserve.take(early_key(template), template)
        if sandbox is not None:
            sandbox.adopt(spec)
            return sandbox
        return IsolatedSandbox(spec, self)

    def prebuild(self, spec: SandboxSpec) -> IsolatedSandbox:
        """A sandbox to build ahead of any function, for the reserve."""
        return IsolatedSandbox(spec, self, prebuilt=True)


def early_key(template: Template) -> str:
    """The reserve's key of an exec'd runtime's pre-started sandboxes."""
    mounts = ";".join(f"{m.host}>{m.inside}" for m in template.mounts)
    return "exec:" + "\0".join(template.argv) + "|" + mounts

"""The isolated sandboxes' factory: a fresh sandbox, or a pre-built one from the reserve."""

from __future__ import annotations

from firebox.sandboxes.base import SandboxSpec
from firebox.sandboxes.host import IsolatedHost
from firebox.sandboxes.isolated import IsolatedSandbox
from firebox.sandboxes.reserve import SandboxReserve, Template

# What an early (pre-started) runtime is exec'd with besides its command: the variables the
# dynamic loader and libc read only when a process starts, and the locale and zone.
START_VARIABLES = ("LD_LIBRARY_PATH", "LANG", "TZ", "PATH")


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
                # (Node's heap size is in it), what it sees mounted, and the variables read
                # only as a program starts.
                starting = {k: spec.environ[k] for k in START_VARIABLES if k in spec.environ}
                template = Template(spec.mounts, argv=tuple(spec.argv), environ=starting)
                sandbox = self.reserve.take(template.key, template)
        if sandbox is not None:
            sandbox.adopt(spec)
            return sandbox
        return IsolatedSandbox(spec, self)

    def prebuild(self, spec: SandboxSpec) -> IsolatedSandbox:
        """A sandbox to build ahead of any function, for the reserve."""
        return IsolatedSandbox(spec, self, prebuilt=True)

"""What isolated sandboxes share on one host: facts read once, uids, cgroups, the network."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from firebox.sandboxes import reaper
from firebox.sandboxes.cgroups import CgroupSupport, EnvironmentCgroup, detect, favor_migrations
from firebox.sandboxes.netns_reserve import NetnsReserve
from firebox.sandboxes.networks import SandboxNetwork
from firebox.sandboxes.zygotes import Zygotes

# Each live environment gets a uid of its own: the kernel's per-user limits (inotify
# instances, pipe buffers, message queues, pending signals) are counted per uid, so a shared
# uid would let one function exhaust them for every other. (Lambda uses 993 everywhere, but
# there every environment is a VM of its own.)
FIRST_UID, UID_COUNT = 100_000, 65_536
ROOTLESS_UID = 993  # Lambda's sbx_user1051
ETC_BINDS = ("/etc/ld.so.cache", "/etc/ssl", "/etc/alternatives", "/etc/ca-certificates")
NETWORK_MODES = ("isolated", "host")


def tun_usable(rootless: bool) -> bool:
    """Whether slirp4netns can open /dev/net/tun: as root always; rootless, where the device
    is open to every user (0666, the usual default)."""
    return not rootless or os.access("/dev/net/tun", os.R_OK | os.W_OK)


# The AWS APIs as an isolated environment reaches them (AWS_ENDPOINT_URL): firebox's default
# port, so an endpoint written for local use works inside a function as well.
AWS_API_PORT = 8070


class IsolatedHost:
    """The host side of isolated sandboxes: namespaces, libseccomp, and cgroups where usable."""

    def __init__(
        self,
        data_dir: Path,
        network: str,
        seccomp_program: bytes,
        zygotes: Zygotes | None = None,
        sweep: bool = False,
        cgroups: CgroupSupport | None = None,
        rootless: bool = False,
    ) -> None:
        if network not in NETWORK_MODES:
            raise ValueError(f"network mode must be one of {', '.join(NETWORK_MODES)}")
        self.network = network
        # Not root: each sandbox is built in a user namespace of its own (launcher.py), and
        # its runtime runs as sbx_user1051 (993) in one more, mapped to the server's user.
        self.rootless = rootless
        self.reaches_host = network == "host"
        # In its own network namespace, an environment reaches the AWS APIs on a listener the
        # sandbox holds (worker/api_door.py).
        self.api_port = AWS_API_PORT if network == "isolated" else 0
        self.api_endpoint = f"http://127.0.0.1:{AWS_API_PORT}" if self.api_port else None
        self.zygotes = zygotes  # None: a fresh launcher program per environment
        self.starting = 0  # on-demand sandboxes not yet initialised
        self.root_dir = data_dir / "sandbox-root"  # a mount point, only used inside namespaces
        self.code_store = data_dir / "code"  # mounted whole in pre-built sandboxes until assigned
        # Names this server's cgroups: a second firebox (another data dir) has its own.
        self.instance = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.seccomp_program = seccomp_program
        self._uids_in_use: set[int] = set()
        self._next_uid = FIRST_UID
        # Host facts every environment needs, read once rather than at every cold start.
        try:
            self.resolv_conf = Path("/etc/resolv.conf").read_text()
        except OSError:
            self.resolv_conf = ""
        self.etc_binds = [p for p in ETC_BINDS if os.path.exists(p)]
        self.symlinks = {
            link: os.readlink(link)
            for link in ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin")
            if os.path.islink(link)
        }
        self.cgroups = cgroups if cgroups is not None else detect()
        self.groups = self.cgroups.tree(self.instance)
        self.reaper = reaper.build(reaper.cache_dir(data_dir))
        if zygotes is not None:
            zygotes.rootless = rootless
        if self.reaper and zygotes is not None:
            zygotes.library = reaper.library(self.reaper)
        # Outbound access for isolated namespaces: the server's bridge (which only the server
        # itself sets up), else a slirp4netns per environment, else loopback only.
        self.net = (
            SandboxNetwork.setup(self.instance, self.resolv_conf, data_dir / "network-subnet")
            if network == "isolated" and sweep and self.reaper and not rootless
            else None
        )
        self.netns: NetnsReserve | None = None  # namespaces made ahead (see start_netns)
        self.slirp4netns = (
            shutil.which("slirp4netns")
            if network == "isolated" and self.net is None and tun_usable(rootless)
            else None
        )
        if sweep:  # only the server itself: `firebox doctor` must never touch a live server
            self.groups.sweep()
            if self.cgroups.version != "none" and not rootless:
                favor_migrations()

    def start_netns(self, size: int) -> None:
        """Keeps `size` network namespaces made ahead for zygote builds (bridge only)."""
        if self.net is None or self.reaper is None or self.zygotes is None or size <= 0:
            return
        self.netns = NetnsReserve(self.net, self.reaper, size, busy=lambda: self.starting > 0)
        self.netns.want()

    def task_root(self, code_dir: Path) -> str:
        return "/var/task"

    def allocate_uid(self) -> int:
        """A uid no live environment has (its processes are gone before it is reused)."""
        if self.rootless:  # one uid to map: every runtime is 993 in a namespace of its own
            return ROOTLESS_UID
        for _ in range(UID_COUNT):
            uid = self._next_uid
            self._next_uid = FIRST_UID + (uid + 1 - FIRST_UID) % UID_COUNT
            if uid not in self._uids_in_use:
                self._uids_in_use.add(uid)
                return uid
        raise OSError("no free sandbox uid")

    def release_uid(self, uid: int) -> None:
        self._uids_in_use.discard(uid)

    def cgroup(self, name: str) -> EnvironmentCgroup:
        """A new environment's group (not made yet: its create() does that)."""
        return self.groups.group(name)

    def release_cgroup(self, cgroup: EnvironmentCgroup) -> None:
        self.groups.release(cgroup)

    def close(self) -> None:
        self.groups.close()
        if self.netns is not None:
            self.netns.close()
        if self.net is not None:
            self.net.close()

"""Outbound network for isolated environments: a bridge per server, NAT, a veth per environment.

Each environment has a network namespace of its own. Its way out is a veth pair: eth0 inside,
with an address from the server's /16, and the host end on the server's bridge (firebox-reaper
creates both while it builds the sandbox; see outbound.c). nftables rules in tables of the
server's own NAT the traffic out and drop frames between environments. The previous way out,
one slirp4netns process per environment, stays the fallback (see SandboxNetwork.setup).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("firebox.sandboxes")

# The mark (SO_MARK) of the server's own connections into environments: telemetry for
# extensions listening inside (worker/telemetry_api.py); the only ones the rules let in.
# (Bits 0x4000 and 0x8000 are left alone: kube-proxy's masquerade and drop marks.)
SERVER_MARK = 0xF10001
BRIDGE_PREFIX = "fbx"  # fbx + 8 hex digits of the server instance
PORT_PREFIX = "fbv"  # host ends of veths: fbv + 6 hex digits of the instance + a counter
# Candidate subnets, one per server: the first that no route of the host's overlaps.
CANDIDATES = [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in range(31, 15, -1)]
RUN_DIR = Path("/run/firebox")
LOCK = RUN_DIR / "network.lock"  # servers starting at once pick different subnets
FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")
# Installed when firebox turns IPv4 forwarding on: forwarding stays off for everything but
# firebox's bridges, as it was. The last server to stop removes it and turns forwarding off.
GUARD_TABLE = "firebox-forwarding"
GUARD = (
    f"table ip {GUARD_TABLE} {{\n"
    "  chain forward { type filter hook forward priority 0; policy accept;\n"
    f'    iifname != "{BRIDGE_PREFIX}*" oifname != "{BRIDGE_PREFIX}*" drop; }}\n'
    "}\n"
)


@dataclass(frozen=True)
class Lease:
    """One environment's address and the name of its veth's host end."""

    host_if: str
    address: str
    prefix: int
    gateway: str
    bridge_index: int

    def args(self) -> list[str]:
        """The arguments of firebox-reaper's outbound step (and of `firebox-reaper outbound`)."""
        return [self.host_if, str(self.bridge_index), self.address, str(self.prefix), self.gateway]


def _run(*argv: str, stdin: str | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise OSError(f"{' '.join(argv[:3])}: {result.stderr.strip() or result.returncode}")


def _routes() -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes (main table), the default route left out."""
    found = []
    with open("/proc/net/route") as f:
        next(f)
        for line in f:
            fields = line.split()
            # Little-endian hex: the bytes of the address in network order, reversed.
            dest, mask = (int.from_bytes(bytes.fromhex(fields[i]), "little") for i in (1, 7))
            if mask:
                found.append(ipaddress.IPv4Network((dest, mask.bit_count()), strict=False))
    return found


def _rules(table: str, bridge: str, ports: str, subnet: ipaddress.IPv4Network) -> str:
    # Into the bridge only what answers the environments' own connections: as with slirp4netns,
    # nothing (another host routing to the subnet, a user of this host) connects to them; but
    # the server's own telemetry deliveries, their sockets marked (SERVER_MARK, root only).
    inbound = f'oifname "{bridge}" ct state established,related accept; oifname "{bridge}" drop;'
    server = f'oifname "{bridge}" meta mark {SERVER_MARK:#x} accept;'
    return (
        f"table ip {table} {{\n"
        "  chain forward { type filter hook forward priority 0; policy accept;\n"
        # Routed from one firebox bridge to another: environments of two servers.
        f'    iifname "{BRIDGE_PREFIX}*" oifname "{BRIDGE_PREFIX}*" drop; {inbound} }}\n'
        f"  chain output {{ type filter hook output priority 0; policy accept; {server} "
        f"{inbound} }}\n"
        "  chain postrouting { type nat hook postrouting priority 100; policy accept;\n"
        f'    ip saddr {subnet} oifname != "{bridge}" masquerade; }}\n'
        "}\n"
        f"table bridge {table} {{\n"
        # Between two ports of the bridge: one environment to another (ARP included).
        "  chain forward { type filter hook forward priority 0; policy accept;\n"
        f'    iifname "{ports}*" drop; }}\n'
        "}\n"
    )


class SandboxNetwork:
    """The server's bridge, its NAT rules, and the addresses of its environments."""

    def __init__(self, tag: str, subnet: ipaddress.IPv4Network, index: int, owner: int) -> None:
        self.tag = tag  # 8 hex digits of the server instance: names its bridge and tables
        self.bridge = BRIDGE_PREFIX + tag
        self.ports = PORT_PREFIX + tag[:6]
        self.owner = owner  # flocked while this server lives (see _sweep)
        self.subnet = subnet
        self.index = index
        hosts = subnet.num_addresses - 2
        self._first = int(subnet.network_address) + 2  # .0.1 is the bridge (the gateway)
        self._count = hosts - 1
        self._in_use: set[int] = set()
        self._counter = 0
        self.gateway = str(subnet.network_address + 1)

    @classmethod
    def setup(
        cls, instance: str, resolv_conf: str, remembered: Path | None = None
    ) -> SandboxNetwork | None:
        """The server's network, made afresh; None (after saying why) where it cannot be.
        `remembered` keeps its subnet from one start to the next (see _create_locked)."""
        if shutil.which("ip") is None or shutil.which("nft") is None:
            log.warning("no `ip` or `nft` (apt install iproute2 nftables): outbound network "
                        "falls back to a slirp4netns process per environment")  # fmt: skip
            return None
        servers = [line.split()[1] for line in resolv_conf.splitlines()
                   if line.startswith("nameserver") and len(line.split()) > 1]  # fmt: skip
        if any(_loopback(server) for server in servers):
            # The host's own resolver is on its loopback, which environments cannot reach.
            log.info("the DNS resolver is on loopback: outbound network uses slirp4netns")
            return None
        try:
            return cls._create(instance[:8], remembered)
        except (OSError, ValueError) as exc:
            log.warning("cannot set up the sandbox bridge (%s): outbound network falls back "
                        "to slirp4netns", exc)  # fmt: skip
            return None

    @classmethod
    def _create(cls, tag: str, remembered: Path | None) -> SandboxNetwork:
        bridge = BRIDGE_PREFIX + tag
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            owner = os.open(RUN_DIR / f"{bridge}.owner", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(owner)
                raise OSError(f"another server holds {bridge}") from None
            try:
                return cls._create_locked(tag, owner, remembered)
            except BaseException:
                os.close(owner)
                raise

    @classmethod
    def _create_locked(cls, tag: str, owner: int, remembered: Path | None) -> SandboxNetwork:
        bridge = BRIDGE_PREFIX + tag
        _remove(tag)  # this data dir's, left by a crash
        _sweep()  # those of other servers that are gone
        taken = _routes()
        # The subnet this data dir had last time, unless something else has it now: whatever
        # remembers an environment's address (or the gateway's) keeps working across restarts.
        candidates = [*_recall(remembered), *CANDIDATES]
        subnet = next((c for c in candidates if not any(c.overlaps(r) for r in taken)), None)
        if subnet is None:
            raise OSError("no free subnet among 172.16.0.0/12's /16s")
        if remembered is not None:
            _remember(remembered, subnet)
        gateway = f"{subnet.network_address + 1}/{subnet.prefixlen}"
        # A fixed address: a bridge without one takes its ports' lowest, which changes as
        # environments come and go and would strand the others' ARP entries for the gateway.
        mac = "02:fb:" + ":".join(tag[i : i + 2] for i in range(0, 8, 2))
        _run("ip", "link", "add", bridge, "address", mac, "type", "bridge", "forward_delay", "0")
        try:
            _run("ip", "addr", "add", gateway, "dev", bridge)
            _run("ip", "link", "set", bridge, "up")
            index = int(Path(f"/sys/class/net/{bridge}/ifindex").read_text())
            network = cls(tag, subnet, index, owner)
            _run("nft", "-f", "-", stdin=_rules(f"firebox-{tag}", bridge, network.ports, subnet))
            if FORWARDING.read_text().strip() != "1":
                _run("nft", "-f", "-", stdin=GUARD)
                FORWARDING.write_text("1")
                log.warning("turned IPv4 forwarding on for the sandbox bridge (table ip %s keeps "
                            "it off for other interfaces)", GUARD_TABLE)  # fmt: skip
        except BaseException:
            _remove(tag)
            raise
        log.info("sandbox network: bridge %s, %s, NAT", bridge, subnet)
        return network

    def lease(self) -> Lease:
        """An address no live environment of this server has, and a fresh host-side name."""
        for _ in range(self._count):
            # Random, so an environment cannot count the server's cold starts by its address.
            offset = secrets.randbelow(self._count)
            if offset not in self._in_use:
                self._in_use.add(offset)
                # Host-side names are never reused soon: a dead environment's veth may
                # outlive it for a moment (network namespaces are torn down asynchronously).
                self._counter = (self._counter + 1) % 0x100000
                return Lease(
                    f"{self.ports}{self._counter:05x}",
                    str(ipaddress.IPv4Address(self._first + offset)),
                    self.subnet.prefixlen,
                    self.gateway,
                    self.index,
                )
        raise OSError("no free sandbox address")

    def release(self, lease: Lease) -> None:
        self._in_use.discard(int(ipaddress.IPv4Address(lease.address)) - self._first)

    def close(self) -> None:
        if self.owner < 0:
            return
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # not while another server sweeps
            _remove(self.tag)
            (RUN_DIR / f"{self.bridge}.owner").unlink(missing_ok=True)
            os.close(self.owner)
            self.owner = -1
            if not _bridges():
                _restore_forwarding()


def _recall(path: Path | None) -> list[ipaddress.IPv4Network]:
    """The subnet remembered in `path`, if it holds one firebox could have chosen."""
    try:
        subnet = ipaddress.IPv4Network(path.read_text().strip()) if path else None
    except (OSError, ValueError):
        return []
    return [subnet] if subnet in CANDIDATES else []


def _remember(path: Path, subnet: ipaddress.IPv4Network) -> None:
    with contextlib.suppress(OSError):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(f"{subnet}\n")
        partial.replace(path)


def _remove(tag: str) -> None:
    """Takes away a server's bridge and rules, if they are there."""
    for argv in (["ip", "link", "del", BRIDGE_PREFIX + tag],
                 ["nft", "delete", "table", "ip", f"firebox-{tag}"],
                 ["nft", "delete", "table", "bridge", f"firebox-{tag}"]):  # fmt: skip
        with contextlib.suppress(OSError):
            subprocess.run(argv, capture_output=True, check=False)


def _loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%")[0]).is_loopback
    except ValueError:
        return False  # not an address: nothing firebox can route to either way


def _bridges() -> list[str]:
    """Firebox's bridges on this host: fbx + 8 hex digits, and a bridge."""
    return [name for name in os.listdir("/sys/class/net")
            if len(name) == len(BRIDGE_PREFIX) + 8 and name.startswith(BRIDGE_PREFIX)
            and all(c in "0123456789abcdef" for c in name[len(BRIDGE_PREFIX):])
            and os.path.isdir(f"/sys/class/net/{name}/bridge")]  # fmt: skip


def _restore_forwarding() -> None:
    """With no firebox bridge left, undoes what the first server changed (if it did)."""
    listing = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    if f"table ip {GUARD_TABLE}" not in listing.stdout.splitlines():
        return  # forwarding was on before firebox came: leave it
    with contextlib.suppress(OSError):
        FORWARDING.write_text("0")
        subprocess.run(["nft", "delete", "table", "ip", GUARD_TABLE], capture_output=True)


def _sweep() -> None:
    """Removes the bridges (and rules) of servers that are gone: nobody holds their flock.

    A server killed outright cannot remove its own, and each holds one of the few /16s.
    """
    for name in _bridges():
        path = RUN_DIR / f"{name}.owner"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # not one firebox knows the owner of: leave it alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live server's
        finally:
            os.close(fd)
        _remove(name[len(BRIDGE_PREFIX) :])
        path.unlink(missing_ok=True)


class Slirp:
    """The fallback way out: a slirp4netns process for one namespace, host loopback excluded."""

    def __init__(self, slirp4netns: str, pid: int, rootless: bool = False) -> None:
        exit_read, self._exit_fd = os.pipe2(os.O_CLOEXEC)
        # Rootless, the namespace belongs to the sandbox's user namespace: joined first.
        userns = [f"--userns-path=/proc/{pid}/ns/user"] if rootless else []
        try:
            self._proc = subprocess.Popen(
                # It handles the sandbox's traffic in its own mount namespace with
                # capabilities dropped (--enable-sandbox) and a seccomp filter of its own.
                [slirp4netns, "--configure", "--mtu=65520", "--disable-host-loopback",
                 "--enable-sandbox", "--enable-seccomp", f"--exit-fd={exit_read}", *userns,
                 str(pid), "tap0"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=[exit_read], start_new_session=True,
            )  # fmt: skip
        except OSError:
            os.close(self._exit_fd)
            raise
        finally:
            os.close(exit_read)

    def stop(self) -> None:
        if self._exit_fd >= 0:
            os.close(self._exit_fd)  # slirp4netns exits when this closes
            self._exit_fd = -1
            self._proc.kill()
            self._proc.wait()

"""The isolated network: a bridge per server, NAT out, nothing between environments."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firebox.sandboxes.networks import BRIDGE_PREFIX
from support import FireboxServer, create_function, invoke_json

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandbox networks need root")

# Handler code: the environment's own address, the one its default route goes out from.
OWN_ADDRESS = (
    "import socket\n"
    "def own_address():\n"
    "    with open('/proc/net/route') as f:\n"
    "        gateway = next(l.split()[2] for l in list(f)[1:] if l.split()[1] == '00000000')\n"
    "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "    s.connect((socket.inet_ntoa(bytes.fromhex(gateway)[::-1]), 9))\n"
    "    return s.getsockname()[0]\n"
)

PROBE = OWN_ADDRESS + (
    "KEPT = []  # the listener stays open while the environment idles\n"
    "def handler(event, context):\n"
    "    if event.get('listen'):\n"
    "        s = socket.create_server(('0.0.0.0', 0))\n"
    "        KEPT.append(s)\n"
    "        return [own_address(), s.getsockname()[1]]\n"
    "    try:\n"
    "        socket.create_connection((event['host'], event['port']), timeout=2).close()\n"
    "        return 'CONNECTED'\n"
    "    except OSError as exc:\n"
    "        return type(exc).__name__\n"
)

ECHO = (
    "import socket\n"
    "def handler(event, context):\n"
    "    with socket.create_connection((event['host'], event['port']), timeout=5) as s:\n"
    "        s.sendall(b'ping')\n"
    "        return s.recv(100).decode()\n"
)


def bridge_of(server: FireboxServer) -> str:
    """The name of a server's bridge (see SandboxNetwork: it follows from the data dir)."""
    instance = hashlib.sha256(str(server.data_dir.resolve()).encode()).hexdigest()[:12]
    return BRIDGE_PREFIX + instance[:8]


def tables_of(server: FireboxServer) -> list[str]:
    """The server's nftables tables, as `nft list tables` names them."""
    instance = hashlib.sha256(str(server.data_dir.resolve()).encode()).hexdigest()[:12]
    listing = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.endswith(f"firebox-{instance[:8]}")]


def host_address() -> str:
    """This machine's non-loopback address: a stand-in for another host."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outbound address
    address: str = probe.getsockname()[0]
    probe.close()
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback address")
    return address


@pytest.fixture(scope="module")
def net_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("network") / "data", "--sandbox", "isolated")
    server.start()
    yield server
    server.stop()


def echo_server() -> tuple[str, int, list[bytes], Callable[[], None]]:
    """A one-shot TCP server on the host's address; returns (host, port, received, join)."""
    address = host_address()
    server = socket.create_server((address, 0))
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        received.append(conn.recv(100))
        conn.sendall(b"pong")
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def join() -> None:
        thread.join(timeout=10)
        server.close()

    return address, server.getsockname()[1], received, join


def test_the_server_has_a_bridge_and_nat_rules(net_server: FireboxServer) -> None:
    """`make bootstrap` installs nftables: without it the slirp4netns fallback is used."""
    bridge = Path("/sys/class/net", bridge_of(net_server))
    assert bridge.is_dir()
    assert len(tables_of(net_server)) == 2  # ip (NAT, routed) and bridge (between ports)
    # The gateway's address stays put as environments come and go (a bridge left to itself
    # takes its ports' lowest, stranding warm environments' ARP entries).
    mac = (bridge / "address").read_text()
    lam = net_server.client()
    for _ in range(3):
        invoke_json(lam, create_function(lam, "def handler(event, context):\n    return 1\n"))
        assert (bridge / "address").read_text() == mac


def test_environments_cannot_reach_each_other(net_server: FireboxServer) -> None:
    lam = net_server.client()
    listening = create_function(lam, PROBE)
    (address, port), _ = invoke_json(lam, listening, {"listen": True})
    # Its own environment (warm, the same one) connects: the listener is there.
    assert invoke_json(lam, listening, {"host": address, "port": port})[0] == "CONNECTED"
    other = create_function(lam, PROBE)
    (other_address, _), _ = invoke_json(lam, other, {"listen": True})
    assert other_address != address
    assert invoke_json(lam, other, {"host": address, "port": port})[0] != "CONNECTED"
    # Nor does the host itself (as with slirp4netns, nothing connects in to an environment).
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_environments_of_two_servers_cannot_reach_each_other(
    net_server: FireboxServer, start_server: Callable[..., FireboxServer]
) -> None:
    lam = net_server.client()
    listening = create_function(lam, PROBE)
    (address, port), _ = invoke_json(lam, listening, {"listen": True})
    assert invoke_json(lam, listening, {"host": address, "port": port})[0] == "CONNECTED"
    other_server = start_server("--sandbox", "isolated")
    other = other_server.client()
    name = create_function(other, PROBE)
    assert invoke_json(other, name, {"host": address, "port": port})[0] != "CONNECTED"


@pytest.mark.parametrize("flags", [[], ["--no-zygote"]], ids=["zygote", "no-zygote"])
def test_outbound_reaches_other_hosts_from_init(
    start_server: Callable[..., FireboxServer], flags: list[str]
) -> None:
    """Module code can use the network at once, in both ways a sandbox is built."""
    server = start_server("--sandbox", "isolated", *flags)
    address, port, received, join = echo_server()
    code = (
        "import socket\n"
        f"with socket.create_connection(({address!r}, {port}), timeout=5) as s:\n"
        "    s.sendall(b'ping')\n"
        "    REPLY = s.recv(100).decode()\n"
        "def handler(event, context):\n"
        "    return REPLY\n"
    )
    body, response = invoke_json(server.client(), create_function(server.client(), code))
    join()
    assert "FunctionError" not in response, body
    assert body == "pong" and received == [b"ping"]


def test_bridge_and_rules_go_with_the_server(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--sandbox", "isolated")
    bridge = Path("/sys/class/net", bridge_of(server))
    lam = server.client()
    name = create_function(lam, "def handler(event, context):\n    return 1\n")
    assert invoke_json(lam, name)[0] == 1
    assert bridge.is_dir()
    # Killed outright, it leaves its bridge behind; the next server to start (here another
    # one) removes it, as its owner is gone.
    server.kill()
    assert bridge.is_dir() and len(tables_of(server)) == 2
    start_server("--sandbox", "isolated")
    assert not bridge.exists() and tables_of(server) == []
    server.start()  # and the data dir's own server starts again with a working network
    address, port, received, join = echo_server()
    body, _ = invoke_json(lam, create_function(lam, ECHO), {"host": address, "port": port})
    join()
    assert body == "pong" and received == [b"ping"]
    server.stop()
    assert not bridge.exists()
    assert tables_of(server) == []


def test_without_nftables_slirp4netns_is_the_way_out(tmp_path: Path) -> None:
    """No `ip`/`nft` on PATH: each environment gets a slirp4netns process instead."""
    server = FireboxServer(tmp_path / "data", "--sandbox", "isolated")
    sbin_free = [p for p in os.environ["PATH"].split(":") if not p.endswith("sbin")]
    server.env = {"PATH": ":".join(sbin_free)}
    server.start()
    try:
        address, port, received, join = echo_server()
        lam = server.client()
        body, _ = invoke_json(lam, create_function(lam, ECHO), {"host": address, "port": port})
        join()
        assert body == "pong" and received == [b"ping"]
        assert not Path("/sys/class/net", bridge_of(server)).exists()
        assert server.proc is not None
        helpers = subprocess.run(["pgrep", "-P", str(server.proc.pid), "slirp4netns"],
                                 capture_output=True, text=True).stdout.split()  # fmt: skip
        assert helpers
    finally:
        server.stop()


def test_a_data_dir_keeps_its_subnet_across_restarts(
    start_server: Callable[..., FireboxServer],
) -> None:
    """Even when the subnet a fresh server would pick first has come free meanwhile: anything
    that remembers an environment's or the gateway's address keeps working after a restart."""
    import httpx

    def subnet(server: FireboxServer) -> str:
        value: str = httpx.get(f"{server.url}/_firebox/health").json()["subnet"]
        return value

    first = start_server()
    second = start_server()
    first_subnet, kept = subnet(first), subnet(second)
    assert kept != first_subnet  # the first took the subnet a fresh server picks first
    first.stop()
    second.stop()
    assert subnet(start_server(data_dir=second.data_dir)) == kept
    assert subnet(start_server(data_dir=first.data_dir)) == first_subnet

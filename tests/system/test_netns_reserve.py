"""Network namespaces made ahead: each joined by one environment, its veth already there."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from firebox.sandboxes import reaper
from firebox.sandboxes.netns_reserve import GIVE_UP_AFTER, NetnsReserve, make
from firebox.sandboxes.networks import Lease, SandboxNetwork
from support import FireboxServer, create_function, invoke_json, wait_for
from test_network import OWN_ADDRESS

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

WHERE = OWN_ADDRESS + (
    "import os\n"
    "def handler(event, context):\n"
    "    return [os.readlink('/proc/self/ns/net'), own_address()]\n"
)


def held_namespaces(pid: int) -> set[str]:
    """The network namespaces a process holds descriptors of, as "net:[inode]"."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("net:["):
                found.add(link)
    return found


def netns_ready(server: FireboxServer) -> int:
    return int(httpx.get(f"{server.url}/_firebox/health").json()["netnsReady"])


def test_each_environment_joins_a_namespace_made_ahead(
    start_server: Callable[..., FireboxServer],
) -> None:
    # No pre-built sandboxes: every environment is built on demand, while the invoke waits.
    server = start_server("--sandbox", "isolated", "--pool-size", "0", "--netns-reserve", "3")
    assert server.proc is not None
    pid = server.proc.pid
    wait_for(lambda: netns_ready(server) == 3)
    held = held_namespaces(pid)
    assert len(held) == 3
    lam = server.client()
    seen = []
    for _ in range(2):
        (namespace, address), response = invoke_json(lam, create_function(lam, WHERE))
        assert "FunctionError" not in response
        assert namespace in held  # one of those made ahead, not one made for it
        assert ipaddress.ip_address(address).is_private and not address.startswith("127.")
        seen.append(namespace)
        # Refilled, and the one now in use is no longer the server's to give.
        wait_for(lambda: netns_ready(server) == 3)
        held = held_namespaces(pid)
        assert namespace not in held and len(held) == 3
    assert seen[0] != seen[1]


def test_without_a_reserve_builds_make_their_own(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--sandbox", "isolated", "--pool-size", "0", "--netns-reserve", "0")
    assert server.proc is not None
    lam = server.client()
    (namespace, address), response = invoke_json(lam, create_function(lam, WHERE))
    assert "FunctionError" not in response
    assert netns_ready(server) == 0 and held_namespaces(server.proc.pid) == set()
    assert namespace.startswith("net:[") and not address.startswith("127.")


def test_reserve_holds_no_more_than_the_concurrency_limit(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--sandbox", "isolated", "--concurrency", "2", "--netns-reserve", "5")
    assert server.proc is not None
    wait_for(lambda: netns_ready(server) == 2)
    assert len(held_namespaces(server.proc.pid)) == 2


@pytest.fixture
def bridge() -> Iterator[tuple[str, int]]:
    """A bridge of this test's own (not named like a server's, so no server sweeps it)."""
    name = f"fbtest{secrets.token_hex(2)}"
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name, int(Path(f"/sys/class/net/{name}/ifindex").read_text())
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def in_namespace(fd: int, *argv: str) -> str:
    path = f"--net=/proc/{os.getpid()}/fd/{fd}"
    return subprocess.run(["nsenter", path, *argv], capture_output=True, text=True).stdout


def test_reaper_makes_namespaces_with_their_veth(bridge: tuple[str, int], tmp_path: Path) -> None:
    name, index = bridge
    program = reaper.build(reaper.cache_dir(tmp_path))
    assert program is not None
    tag = secrets.token_hex(2)
    good = Lease(f"fbtv{tag}0", "10.250.7.2", 24, "10.250.7.1", index)
    bad = Lease(f"fbtv{tag}1", "10.250.7.3", 24, "10.250.7.1", 999_999)  # no such bridge
    other = Lease(f"fbtv{tag}2", "10.250.7.4", 24, "10.250.7.1", index)
    fds = make(program, [good, bad, other])
    try:
        assert fds[0] >= 0 and fds[1] == -1 and fds[2] >= 0
        assert os.fstat(fds[0]).st_ino != os.fstat(fds[2]).st_ino  # one namespace each
        addresses = in_namespace(fds[0], "ip", "-4", "-o", "addr")
        assert "lo" in addresses and "127.0.0.1/8" in addresses
        assert "eth0" in addresses and "10.250.7.2/24" in addresses
        assert "default via 10.250.7.1" in in_namespace(fds[0], "ip", "route")
        # The host end is up, on the bridge; the failed one left nothing behind.
        assert Path(f"/sys/class/net/{good.host_if}/master").resolve().name == name
        assert not Path(f"/sys/class/net/{bad.host_if}").exists()
    finally:
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def test_reserve_fills_holds_off_while_busy_and_gives_up_on_a_bad_bridge(
    bridge: tuple[str, int], tmp_path: Path
) -> None:
    program = reaper.build(reaper.cache_dir(tmp_path))
    assert program is not None
    _name, index = bridge
    net = SandboxNetwork(secrets.token_hex(4), ipaddress.IPv4Network("10.251.0.0/16"), index, -1)
    busy = [False]

    async def scenario() -> None:
        async def until(predicate: Callable[[], bool]) -> None:
            for _ in range(1000):
                if predicate():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("not reached")

        reserve = NetnsReserve(net, program, 3, busy=lambda: busy[0])
        reserve.want()
        await until(lambda: len(reserve) == 3)
        assert len(net._in_use) == 3  # each holds its address
        busy[0] = True  # cold starts under way: taking one does not start a refill
        taken = reserve.take()
        assert taken is not None and len(reserve) == 2
        reserve.want()
        assert not reserve._filling and len(reserve) == 2
        busy[0] = False
        await until(lambda: len(reserve) == 3)
        os.close(taken.fd)
        net.release(taken.lease)
        reserve.close()
        assert len(reserve) == 0 and not net._in_use  # every address back

        refusing = SandboxNetwork(secrets.token_hex(4), net.subnet, 999_999, -1)
        reserve = NetnsReserve(refusing, program, 3, busy=lambda: False, retry_s=0.3)
        reserve.want()
        await until(lambda: reserve._failures >= GIVE_UP_AFTER and not reserve._filling)
        reserve.want()  # it has stopped trying for now: builds make their own
        assert reserve.batches == GIVE_UP_AFTER and not reserve._filling
        assert not refusing._in_use  # every lease given back
        await until(lambda: reserve.batches > GIVE_UP_AFTER)  # one more try, retry_s later
        await until(lambda: not reserve._filling)
        assert reserve.take() is None and not refusing._in_use
        reserve.close()

    asyncio.run(scenario())

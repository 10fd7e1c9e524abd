"""Isolated sandboxes: namespaces, a minimal read-only root, cgroups, no privileges, seccomp."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firebox.sandboxes import launcher
from firebox.sandboxes.base import SandboxSpec, SandboxState
from firebox.sandboxes.cgroups.none import tree_peak_kb
from firebox.sandboxes.networks import Slirp
from firebox.sandboxes.process import PlainListener
from firebox.sandboxes.zygotes import ZYGOTE, Zygote, wait_status_to_code

if TYPE_CHECKING:
    from firebox.sandboxes.host import IsolatedHost

log = logging.getLogger("firebox.sandboxes")

SANDBOX_GID = 990  # Lambda's sbx_user1051 group
RUNTIME_API_PORT = 9001
LAUNCHER = Path(launcher.__file__)
ZYGOTE_DIR = ZYGOTE.parent


def _etc_files(uid: int, resolv: str, address: str) -> dict[str, str]:
    return {
        "/etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\n"
        f"sbx_user1051:x:{uid}:{SANDBOX_GID}::/tmp:/sbin/nologin\n",
        "/etc/group": f"root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\n",
        # sandbox.localdomain: where extensions listen for what the Telemetry API sends
        "/etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        f"{address}\tsandbox.localdomain sandbox\n",
        "/etc/resolv.conf": resolv,
        "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }


class IsolatedSandbox:
    """One environment built by the launcher; killing its process group ends its PID namespace."""

    def __init__(self, spec: SandboxSpec, host: IsolatedHost, prebuilt: bool = False) -> None:
        self.spec = spec
        self.host = host
        self.prebuilt = prebuilt  # built ahead, waiting for adopt() and an assignment
        # Its exec'd runtime is running already and reads its environment itself.
        self.early = prebuilt and spec.early
        self._listener: socket.socket | None = None
        self._api_listener: socket.socket | None = None
        self.state = SandboxState.CREATED
        self.output_fd = -1
        self.exit_fd = -1
        # <the server's parent group>/<function>.<environment> (cgroups/)
        self.uid = host.allocate_uid()
        name = f"{spec.label}.{spec.env_id}" if spec.label else spec.env_id
        self.cgroup = host.cgroup(name)
        # Its veth and address; with a zygote, the network namespace too if one was made ahead.
        made = host.netns.take() if host.netns is not None else None  # zygote builds only
        self.netns = made.fd if made else -1  # handed to the zygote, then closed
        self.lease = made.lease if made else host.net.lease() if host.net else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None
        self._channel: socket.socket | None = None
        self._host_listener: PlainListener | None = None
        self._slirp: Slirp | None = None
        self._zygote_pid: int | None = None
        self._zygote: Zygote | None = None
        self._exit_write = -1
        self._adopted = False
        self._counted = False  # counted in host.starting until initialised or killed
        self._uncharged = 0  # resident bytes its processes share uncharged (once initialised)
        if host.network == "host":
            self._host_listener = PlainListener()
            self.runtime_api_address = self._host_listener.address
        else:
            self.runtime_api_address = f"127.0.0.1:{RUNTIME_API_PORT}"
        # Its veth's address (the server reaches it over its bridge); the host's own network's
        # loopback; none behind slirp4netns, which only lets connections out.
        self.inside_address: str | None = (
            self.lease.address if self.lease else "127.0.0.1" if host.network == "host" else None
        )

    def _launch_spec(self) -> dict[str, Any]:
        spec = self.spec
        environ = {**spec.environ, "AWS_LAMBDA_RUNTIME_API": self.runtime_api_address}
        return {
            "root": str(self.host.root_dir),
            "system_dirs": ["/usr"],
            "symlinks": self.host.symlinks,
            "binds": [
                *([[str(spec.code_dir), "/var/task"]] if not self.prebuilt else []),
                *([[str(spec.opt_dir), "/opt"]] if spec.opt_dir and not self.prebuilt else []),
                *([m.host, m.inside] for m in spec.mounts),
                *([p, p] for p in self.host.etc_binds),
            ],
            "files": _etc_files(
                self.uid, self.host.resolv_conf, self.inside_address or "127.0.0.1"
            ),
            "tmp_mb": spec.ephemeral_storage_mb,
            "uid": self.uid,
            "gid": SANDBOX_GID,
            "hostname": "firebox",
            "nofile": 1024,
            "cwd": "/var/task",
            "argv": spec.argv,
            "environ": environ,
            "cgroups": self.cgroup.procs_files,
            "network": self.host.network,
            # The interface the runtime waits for when it is attached after the listener was
            # sent: slirp4netns's (the builder makes a veth before; see start_exec for more).
            "outbound": "tap0" if self.host.slirp4netns else None,
            "veth": self.lease.args() if self.lease else None,
            "netns": self.netns >= 0,  # join it instead of making one (builder.script)
            "counters": list(self.cgroup.counter_files),
            "port": RUNTIME_API_PORT,
            "api_port": self.host.api_port,
            # For a runtime its zygote starts in-process: host paths → paths inside, the host
            # paths to leave off its sys.path and what goes first (its language says).
            "path_map": dict(spec.in_process.get("path_map", {})),  # type: ignore[call-overload]
            "drop_paths": (str(ZYGOTE_DIR), *spec.in_process.get("host_paths", ())),  # type: ignore[misc]
            "front_paths": list(spec.in_process.get("front_paths", ())),  # type: ignore[call-overload]
            "deferred": self.prebuilt,
            "early": self.early,  # exec argv at once: it waits for its environment itself
            # Known ahead only in an own network namespace (fixed address); else None.
            "runtime_api": self.runtime_api_address if self.host.network == "isolated" else None,
            "code_store": str(self.host.code_store),
            "reaper": str(self.host.reaper) if self.host.reaper else None,
            "rootless": self.host.rootless,
            # No cgroup to hold memory to MemorySize: a per-process limit stands in.
            "memory_rlimit_mb": spec.memory_mb if self.host.groups.version == "none" else 0,
        }

    def _prepare(self) -> tuple[int, socket.socket, int, int]:
        """The cgroup, the seccomp program, the channel and the output pipe of a new sandbox."""
        self.cgroup.create(self.spec.memory_mb)
        seccomp_fd = os.memfd_create("firebox-seccomp", 0)
        os.write(seccomp_fd, self.host.seccomp_program)
        os.lseek(seccomp_fd, 0, os.SEEK_SET)
        # The launcher hands back the Runtime API listener and, at the end, a memory report.
        self._channel, child_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._channel.setblocking(False)
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        return seccomp_fd, child_channel, read_fd, write_fd

    def _prepare_or_kill(self) -> tuple[int, socket.socket, int, int]:
        try:
            return self._prepare()
        except BaseException:
            self.kill()  # gives back its cgroup, uid, address and network namespace
            raise

    def adopt(self, spec: SandboxSpec) -> None:
        """Makes a pre-built sandbox the given function's; start() then assigns it."""
        self.spec = spec
        self._adopted = True

    def _assign(self) -> None:
        """Sends the function to the waiting monitor (launcher.assign)."""
        assert self._channel is not None
        environ = {**self.spec.environ, "AWS_LAMBDA_RUNTIME_API": self.runtime_api_address}
        # The format reaper.c (and launcher.assign) read: PACKAGE\0OPT\0TMP_MB\0ENVIRON, OPT
        # the layers' merged tree ("" for none); both are names in the code store.
        opt = self.spec.opt_dir
        if opt is not None and opt.parent != self.host.code_store:
            raise OSError(f"the layers' tree {opt} is outside the code store")
        fields = (
            self.spec.code_dir.name,
            opt.name if opt else "",
            str(self.spec.ephemeral_storage_mb),
        )
        # The environment as its runtime reads it: an early one (Node) as KEY=VALUE entries
        # (NUL-separated, as /proc/<pid>/environ), else marshalled (launcher.py, Python).
        if self.early:
            encoded = b"\0".join(f"{key}={value}".encode() for key, value in environ.items())
        else:
            encoded = marshal.dumps(environ)
        job = b"\0".join([*(field.encode() for field in fields), encoded])
        self._channel.setblocking(True)
        try:
            self._channel.sendall(len(job).to_bytes(4, "big") + job)
        finally:
            self._channel.setblocking(False)

    async def start(self) -> None:
        if self._adopted:
            try:
                self.cgroup.resize(self.spec.memory_mb)  # before any function code can run
                self._assign()
                label = self.spec.label
                self.cgroup = self.cgroup.renamed(
                    f"{label}.{self.spec.env_id}" if label else self.spec.env_id
                )
            except BaseException:
                self.kill()  # the caller falls back to a fresh sandbox
                raise
            return
        if not self.prebuilt:  # an on-demand start: the reserve waits until it is done
            self.host.starting += 1
            self._counted = True
        zygotes = self.host.zygotes
        if zygotes is None:
            self.start_exec()
            return
        # A runtime with a zygote starts in-process in it; others are exec'd from the zygote
        # of the server's own interpreter.
        interpreter = self.spec.zygote or sys.executable
        try:
            zygote = self._zygote = await zygotes.get(interpreter)
        except BaseException:
            self.kill()  # gives back its uid and address
            raise
        seccomp_fd, child_channel, read_fd, write_fd = self._prepare_or_kill()
        try:
            exit_read, self._exit_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        except BaseException:
            os.close(read_fd)
            _handed_over(write_fd, seccomp_fd, child_channel)
            self.kill()
            raise
        spec = self._launch_spec()
        if self.spec.zygote is not None:
            spec["argv"] = None  # the zygote's own runtime, no exec
        fds = [write_fd, child_channel.fileno(), seccomp_fd]
        if self.netns >= 0:
            fds.append(self.netns)  # the zygote's fourth (spec["netns"] says so)
        try:
            self._zygote_pid = await zygote.spawn(spec, fds, self._on_zygote_exit)
        except BaseException:
            self._abandon(read_fd, exit_read, self._exit_write)
            self._exit_write = -1
            raise
        finally:
            _handed_over(write_fd, seccomp_fd, child_channel)
            self._close_netns()
        self.output_fd = read_fd
        self.exit_fd = exit_read
        self.state = SandboxState.RUNNING
        os.set_blocking(read_fd, False)

    def _abandon(self, *fds: int) -> None:
        """Undoes _prepare() when the sandbox could not be started."""
        self._started()  # no longer starting: the reserves may refill
        for fd in fds:
            os.close(fd)
        self.cgroup.remove()
        self.host.release_uid(self.uid)
        self._close_netns()
        self._release_lease()

    def _close_netns(self) -> None:
        if self.netns >= 0:
            os.close(self.netns)
            self.netns = -1

    def _release_lease(self) -> None:
        if self.lease is not None and self.host.net is not None:
            self.host.net.release(self.lease)
        self.lease = None

    def _on_zygote_exit(self, status: int) -> None:
        self._returncode = wait_status_to_code(status)
        if self._exit_write >= 0:
            os.write(self._exit_write, b"x")  # wakes the environment's exit watch
            os.close(self._exit_write)
            self._exit_write = -1

    def start_exec(self) -> None:
        """Starts the launcher as a fresh program (no zygote): the baseline, and the probe."""
        seccomp_fd, child_channel, read_fd, write_fd = self._prepare_or_kill()
        spec = self._launch_spec()
        if self.lease:
            spec["outbound"] = "eth0"  # attached by the server once the listener is here
        spec["seccomp_fd"] = seccomp_fd
        spec["channel_fd"] = child_channel.fileno()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-I", str(LAUNCHER), marshal.dumps(spec).hex()],
                cwd="/", env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL,
                stdout=write_fd, stderr=subprocess.STDOUT, start_new_session=True,
                pass_fds=[seccomp_fd, child_channel.fileno()],
            )  # fmt: skip
        except BaseException:
            self._abandon(read_fd)
            raise
        finally:
            _handed_over(write_fd, seccomp_fd, child_channel)
        self.output_fd = read_fd
        self.state = SandboxState.RUNNING
        try:
            os.set_blocking(read_fd, False)
            self.exit_fd = os.pidfd_open(self._proc.pid)
        except OSError:
            self.kill()
            raise

    async def built(self) -> bool:
        """Whether the sandbox is complete, runtime and all (waits for the zygote to say so)."""
        if self._zygote is None or self._zygote_pid is None:
            return self._proc is not None  # a launcher program builds in one go
        return await self._zygote.built(self._zygote_pid)

    async def prepare_listener(self) -> None:
        """For pre-built sandboxes: receive the listener (and attach outbound) ahead of time."""
        self._listener = await self.listener()

    def api_listener(self) -> socket.socket | None:
        """The listener inside the sandbox for the AWS APIs (isolated network), taken once."""
        sock, self._api_listener = self._api_listener, None
        return sock

    async def listener(self) -> socket.socket:
        if self._listener is not None:
            sock, self._listener = self._listener, None
            return sock
        if self._host_listener is not None:
            return self._host_listener.take()
        assert self._channel is not None
        loop = asyncio.get_running_loop()
        received: asyncio.Future[socket.socket] = loop.create_future()
        channel = self._channel

        def on_readable() -> None:
            loop.remove_reader(channel.fileno())
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(channel, 1, 2)
            except OSError as exc:
                received.set_exception(exc)
                return
            if not fds:
                received.set_exception(OSError("the sandbox exited before it was ready"))
            else:
                if len(fds) > 1:  # the AWS APIs' listener, in the same namespace
                    self._api_listener = socket.socket(fileno=fds[1])
                    self._api_listener.setblocking(False)
                received.set_result(socket.socket(fileno=fds[0]))

        loop.add_reader(channel.fileno(), on_readable)
        sock = await received
        sock.setblocking(False)
        if self.host.slirp4netns and self.pid is not None:
            try:
                self._slirp = Slirp(self.host.slirp4netns, self.pid, self.host.rootless)
            except OSError as exc:
                log.warning("environment %s has no outbound network: %s", self.spec.env_id, exc)
        elif self.lease and self._proc is not None and self.host.reaper:
            # A launcher program's namespace (the builder attaches its own while it builds).
            attach = await asyncio.create_subprocess_exec(
                str(self.host.reaper),
                "outbound",
                str(self._proc.pid),
                *self.lease.args(),
                stdin=subprocess.DEVNULL,
            )  # the server's loop goes on meanwhile
            if await attach.wait() != 0:
                log.warning("environment %s has no outbound network", self.spec.env_id)
        return sock

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else self._zygote_pid

    def reap(self) -> int | None:
        if self._returncode is None and self._proc is not None:
            self._returncode = self._proc.poll()
        return self._returncode

    def kill(self) -> None:
        self._started()
        if self.state is SandboxState.DEAD:
            return
        self.state = SandboxState.DEAD
        if self._proc is not None:
            if self._proc.poll() is None:  # once reaped, its pid may belong to someone else
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
            self._returncode = self._proc.wait()
        elif self._zygote_pid is not None and self._returncode is None:
            # Its own session: the group is the whole environment. The zygote reaps it.
            try:
                os.killpg(self._zygote_pid, signal.SIGKILL)
            except ProcessLookupError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._zygote_pid, signal.SIGKILL)  # killed before its setsid()
        if self._exit_write >= 0:
            os.close(self._exit_write)
            self._exit_write = -1
        for fd in (self.output_fd, self.exit_fd):
            if fd >= 0:
                os.close(fd)
        self.output_fd = self.exit_fd = -1
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._host_listener is not None:
            self._host_listener.close()
        if self._api_listener is not None:
            self._api_listener.close()
            self._api_listener = None
        if self._slirp is not None:
            self._slirp.stop()
            self._slirp = None
        self.host.release_cgroup(self.cgroup)
        self.host.release_uid(self.uid)
        self._close_netns()
        self._release_lease()

    def _started(self) -> None:
        if self._counted:
            self._counted = False
            self.host.starting -= 1

    def initialised(self) -> None:
        self._started()
        self.cgroup.limit_cpu(self.spec.memory_mb)
        # What the processes use but the group is not charged for: mostly the interpreter,
        # standard library and runtime shared with the zygote, which a Lambda environment
        # holds itself. Taken once, here: it hardly changes afterwards, and the group's peak
        # counts what the environment adds from now on.
        self._uncharged = max(0, self.cgroup.resident_bytes() - self.cgroup.memory_bytes())

    def max_memory_mb(self) -> int:
        """The group's peak charge, plus the resident memory it shares uncharged (see
        initialised()): what the environment's processes really use, for REPORT."""
        if self.host.groups.version == "none":  # no group: the process trees' own peaks
            roots = [self.pid] if self.pid is not None else []
            if self._zygote is not None and self.pid in self._zygote.runtimes:
                roots.append(self._zygote.runtimes[self.pid])  # forked by the zygote
            return max(1, sum(tree_peak_kb(pid) for pid in roots) // 1024)
        return max(1, (self.cgroup.max_memory_bytes() + self._uncharged) // (1024 * 1024))

    def _memory_report(self) -> dict[str, int]:
        """The launcher's last words about memory, sent just before it exited."""
        if self._channel is None:
            return {}
        try:
            data = self._channel.recv(4096).decode()
            pairs = (item.partition("=") for item in data.split(";") if "=" in item)
            return {key: int(value) for key, _, value in pairs}
        except (OSError, ValueError):
            return {}

    def exit_reason(self) -> str | None:
        """Why the kernel ended the environment, when it was the memory limit."""
        report = self._memory_report()
        held = int(report.get("tmp_bytes", 0)) // (1024 * 1024)
        # Reaching the limit is normal (page cache is reclaimed); a kill, or /tmp holding most
        # of the memory when the limit was hit (tmpfs writes then fail with ENOMEM), is not.
        tmp_full = bool(report.get("limit_hits")) and held * 2 >= self.spec.memory_mb
        if not (self.cgroup.oom_killed() or report.get("oom_kills") or tmp_full):
            return None
        note = f"; /tmp held {held} MB of it (files in /tmp count against memory)" if held else ""
        return f"out of memory: the function reached its {self.spec.memory_mb} MB limit{note}"


def _handed_over(write_fd: int, seccomp_fd: int, channel: socket.socket) -> None:
    """Closes the server's copies of what the new sandbox received."""
    os.close(write_fd)
    os.close(seccomp_fd)
    channel.close()

"""The zygote's fast path: firebox-reaper builds the sandbox, the zygote forks only the runtime.

Standard library only (it runs in the zygote, under every runtime's interpreter). For each
environment the zygote starts `firebox-reaper build` with posix_spawn (no copy of its own
image), hands it a build script (script()), and goes on serving other requests. The builder
joins the cgroups, makes the namespaces, hands the Runtime API listener to the server, forks
pid 1, which builds the root and pivots into it, and tells the zygote pid 1's pid at once.
The zygote forks the runtime into pid 1's PID namespace while the root is being built; the
child joins the other namespaces with setns and waits for the root before it joins the mount
namespace: one fork of the zygote per environment instead of three, no Python process
besides the runtime, and the fork overlapping pid 1's mounts.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import sys

import launcher

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
# The namespaces a runtime joins, in order: mnt last, as it moves the process's root.
NS_FLAGS = {"net": CLONE_NEWNET, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "mnt": CLONE_NEWNS}
FIRST_CGROUP_FD = 8  # the builder's fds: 0-2 stdio, 3-7 (see start()), then the cgroup files
OWN_PID_NS = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)  # to come back to
ENTER = None  # libfirebox-enter (enter.c): load() sets it, before the zygote's first fork


def load(library: str) -> None:
    """Loads libfirebox-enter; once, in a zygote that has a single thread (see enter.c)."""
    global ENTER
    if len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError("the zygote has more than one thread: it cannot fork with fork()")
    ENTER = ctypes.PyDLL(library).firebox_fork_runtime  # PyDLL: the GIL stays held
    ENTER.restype = ctypes.c_int
    launcher.last_cap()  # read here, once: every runtime forked from this zygote needs it


def script(spec: dict) -> bytes:
    """The build script reaper.c runs (see its build_main()): the root of launcher.root_steps()."""
    # Descriptors, opened by the zygote when the request came: a pre-built sandbox's cgroups
    # are renamed when it is assigned, which may be before these steps run.
    ops: list[str] = []
    for fd in range(FIRST_CGROUP_FD, FIRST_CGROUP_FD + len(spec["cgroups"])):
        ops += ["cgroup", str(fd)]
    counters = FIRST_CGROUP_FD + len(spec["cgroups"])
    ops += ["counters", str(counters), str(counters + 1)]
    if spec.get("netns"):  # made ahead, veth and all (netns_reserve.py): the fd after those
        ops += ["joinnet", str(counters + 2), str(spec["port"]), str(spec.get("api_port", 0))]
    elif spec["network"] == "isolated":
        if spec.get("veth"):
            ops += ["outbound", *spec["veth"]]  # attached before net sends the listener
        ops += ["net", str(spec["port"]), str(spec.get("api_port", 0))]
    ops.append("ns")
    for step in launcher.root_steps(spec):
        ops += step
    user = "userns" if spec.get("rootless") else "user"  # rootless: one namespace deeper
    ops += ["hostname", spec["hostname"], user, str(spec["uid"]), str(spec["gid"])]
    return b"".join(op.encode() + b"\0" for op in ops)


class Build:
    """One environment the zygote is building: the builder, then its runtime."""

    def __init__(self, spec: dict, output: int, seccomp: int) -> None:
        self.spec = spec
        self.output = output
        self.seccomp = seccomp
        self.assign = -1  # read end of the pre-built sandbox's assignment pipe
        self.cgroups: list[int] = []  # the cgroups' procs files: the runtime joins them too
        self.ready = -1  # the builder writes pid 1's pid here, then "R" once the root is built
        self.root = -1  # read end of the pipe the builder writes "R" to: the runtime waits on it
        self.buffer = b""
        self.forked = False  # the runtime's fork was tried (once pid 1's pid came)
        self.builder_pid = 0
        self.builder_status: int | None = None
        self.runtime_pid = 0
        self.runtime_status: int | None = None

    def close_fds(self, keep_ready: bool = False) -> None:
        """Closes the zygote's copies (the runtime has its own); the ready pipe unless kept."""
        ready = -1 if keep_ready else self.ready
        for fd in (self.output, self.seccomp, self.assign, self.root, ready, *self.cgroups):
            if fd >= 0:
                os.close(fd)
        self.output = self.seccomp = self.assign = self.root = -1
        self.ready = self.ready if keep_ready else -1
        self.cgroups = []

    def kill(self, sig: int) -> None:
        """Signals the monitor: SIGTERM to report and end the sandbox, SIGKILL to just end it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.builder_pid, sig)

    def finished(self) -> bool:
        """Both processes reaped (or the runtime never started): time to report."""
        return self.builder_status is not None and (
            not self.runtime_pid or self.runtime_status is not None
        )

    def rooted(self) -> bool:
        """Whether the builder said the root was built ("PID\nR\n" on the ready pipe)."""
        return self.buffer.split(b"\n")[1:2] == [b"R"]

    def drain_ready(self) -> None:
        """Reads what the (exited) builder left on the ready pipe, then closes it."""
        if self.ready < 0:
            return
        os.set_blocking(self.ready, False)
        with contextlib.suppress(OSError):
            while chunk := os.read(self.ready, 64):
                self.buffer += chunk
        os.close(self.ready)
        self.ready = -1

    def status(self) -> int:
        """What the server sees as the environment's exit: the runtime's, if it ran in a
        finished root; else the builder's (a failed build: 126, and pid 1 said why)."""
        if self.runtime_pid and self.runtime_status is not None and self.rooted():
            return self.runtime_status
        return self.builder_status if self.builder_status is not None else 9


def _high(fd: int) -> int:
    """A close-on-exec copy at 10 or above, so dup2 onto 0..7 cannot clobber a source."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def start(spec: dict, output: int, channel: int, seccomp: int, netns: int = -1) -> Build:
    """Starts firebox-reaper build; the caller then watches build.ready. On failure every
    descriptor is closed again, the received output, seccomp and netns ones included."""
    build = Build(spec, output, seccomp)
    # Only the builder keeps these (the zygote's copies close), the namespace to join too.
    temporary: list[int] = [netns] if netns >= 0 else []
    ready_read = -1

    def opened(fd: int) -> int:
        temporary.append(fd)
        return fd

    try:
        for procs in spec["cgroups"]:
            build.cgroups.append(os.open(procs, os.O_WRONLY | os.O_CLOEXEC))
        counters = [opened(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
                    for path in spec["counters"]]  # fmt: skip
        ready_read, ready_write = os.pipe()
        temporary.append(ready_write)
        build.root, root_write = os.pipe()
        temporary.append(root_write)
        assign_write = -1
        if spec.get("deferred"):
            build.assign, assign_write = os.pipe()
            temporary.append(assign_write)
        script_read, script_write = os.pipe()
        temporary.append(script_read)
        try:
            os.write(script_write, script(spec))  # a few KB: fits the pipe's buffer
        finally:
            os.close(script_write)  # the builder reads the script to EOF
        null = opened(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
        # The builder's 0..7 (6: /dev/null if unused), then from FIRST_CGROUP_FD on the
        # cgroups, the memory counters and the network namespace to join (see script()).
        sources = [null, output, output, channel, script_read, ready_write, assign_write]
        sources += [root_write, *build.cgroups, *counters, *([netns] if netns >= 0 else [])]
        high = [opened(_high(fd if fd >= 0 else null)) for fd in sources]
        build.builder_pid = os.posix_spawn(
            spec["reaper"],
            ["firebox-reaper", "build", "3", "4", "5", "6" if assign_write >= 0 else "-1", "7"],
            {},
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(high)],
            setsid=True,
        )
    except BaseException:
        if ready_read >= 0:
            os.close(ready_read)
        build.close_fds()
        raise
    finally:
        for fd in temporary:
            os.close(fd)
    build.ready = ready_read
    return build


def fork_runtime(build: Build, pid1: int, run: object) -> int:
    """Forks the runtime into pid 1's namespaces; returns its pid (0 if the sandbox is gone)."""
    isolated = build.spec["network"] == "isolated"
    kinds = [kind for kind in NS_FLAGS if kind != "net" or isolated]
    namespaces = _namespaces(pid1, build.builder_pid, ["pid", *kinds])
    if namespaces is None:
        return 0  # pid 1 is already gone: the builder's exit reports it
    pid_ns = namespaces.pop("pid")
    spec = build.spec
    args = [pid_ns, OWN_PID_NS, build.output, build.root, build.seccomp, build.assign,
            spec["nofile"], spec["uid"], spec["gid"], launcher.LAST_CAP, len(build.cgroups),
            len(namespaces), 1 if spec.get("rootless") else 0, *build.cgroups]  # fmt: skip
    for kind, fd in namespaces.items():
        args += [fd, NS_FLAGS[kind]]
    try:
        if ENTER is None:
            raise OSError("this zygote was started without libfirebox-enter")
        pid = ENTER((ctypes.c_int * len(args))(*args), len(args))
        if pid == 0:
            _runtime_child(build, run)
        if pid < 0:
            raise OSError(-pid, f"fork of the runtime: {os.strerror(-pid)}")
        return pid
    finally:
        os.close(pid_ns)
        for fd in namespaces.values():
            os.close(fd)


def _namespaces(pid1: int, builder: int, kinds: list) -> dict | None:
    """Pid 1's namespaces, opened through one /proc/<pid> directory that is checked to be
    the builder's child: if pid 1 died and its pid was reused, nothing of it is joined."""
    try:
        proc = os.open(f"/proc/{pid1}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    opened: dict = {}
    try:
        status = os.open("status", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        try:
            text = os.read(status, 4096)
        finally:
            os.close(status)
        ppid = text.split(b"\nPPid:", 1)[1].split(None, 1)[0] if b"\nPPid:" in text else b""
        if ppid != str(builder).encode():
            return None
        for kind in kinds:  # through the same directory: the same process, or ESRCH
            opened[kind] = os.open(f"ns/{kind}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        return opened
    except OSError:
        for fd in opened.values():
            os.close(fd)
        return None
    finally:
        os.close(proc)


def _runtime_child(build: Build, run: object) -> None:
    """In the forked runtime, inside the sandbox (enter.c took it there): start the runtime."""
    try:
        signal.set_wakeup_fd(-1)  # the zygote's (closed) wake-up pipe
        random = sys.modules.get("random")
        if random is not None:  # the at-fork hook os.fork() would have run: no two
            random.seed()  # environments may share a sequence of random numbers
        spec = build.spec
        if spec.get("deferred"):
            spec["environ_fd"] = build.assign  # see launcher.wait_for_environment
        else:
            os.chdir(spec["cwd"])
            if spec.get("outbound"):
                launcher.wait_for_interface(spec["outbound"])
        run(spec)  # type: ignore[operator]
    except BaseException as exc:
        print(f"firebox sandbox: the runtime failed to start: {exc!r}", file=sys.stderr,
              flush=True)  # fmt: skip
    os._exit(1)

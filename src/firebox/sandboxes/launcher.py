"""Builds one isolated execution environment, then execs its runtime. Standard library only.

Run as root by the server: `python -S -I launcher.py SPEC_HEX` (the spec marshalled, in hex).
It imports only C modules: every millisecond of its start-up is a millisecond of cold start
(json, socket, signal and typing would pull in re and enum: ~20 ms). Steps, in order:
join cgroups → own network namespace (listener for the Runtime API handed back to the server)
→ unshare mount/PID/IPC/UTS → fork pid 1 → minimal read-only root with private /tmp →
pivot_root → drop to an unprivileged uid with no capabilities → NO_NEW_PRIVS → seccomp →
exec. The parent stays behind as a monitor that exits the way pid 1 exits.
"""

from __future__ import annotations

import _socket
import ctypes
import fcntl
import marshal
import os
import resource
import stat
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
CLONE_NEWUSER = 0x10000000
PIDS_MAX = 1024  # as the cgroups' pids.max
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SYS_PIVOT_ROOT = 155  # x86_64
SIOCSIFFLAGS, IFF_UP, IFF_RUNNING = 0x8914, 0x1, 0x40
DEVICES = ("null", "zero", "full", "random", "urandom")

libc = ctypes.CDLL(None, use_errno=True)
Spec = dict  # the marshalled launch spec (see IsolatedSandbox._launch_spec)
Runner = object  # a callable taking the spec: exec_runtime, or the zygote's in-process runtime
SIGKILL, SIGSTOP, SIGCHLD = 9, 19, 17
PR_SET_DUMPABLE = 4
SCM_RIGHTS = 1


class SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint))  # fmt: skip


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))


def check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def bind(source: str, target: str, read_only: bool = True) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _listen(port: int) -> _socket.socket:
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    return listener


def setup_network(channel: _socket.socket, port: int, api_port: int = 0) -> None:
    """A network namespace of its own: loopback only, with the Runtime API listener on it
    (and, api_port > 0, the AWS API's), both sent to the server in one message."""
    check(libc.unshare(CLONE_NEWNET), "unshare(net)")
    probe = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    fcntl.ioctl(probe.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_RUNNING))
    probe.close()
    listeners = [_listen(port)] + ([_listen(api_port)] if api_port > 0 else [])
    # The server serves the Runtime API (and the AWS APIs) on them.
    fds = struct.pack(f"{len(listeners)}i", *(s.fileno() for s in listeners))
    channel.sendmsg([b"L"], [(_socket.SOL_SOCKET, SCM_RIGHTS, fds)])
    for listener in listeners:
        listener.close()


DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))  # fmt: skip


_DEVICE_NUMBERS: list = []


def device_numbers() -> list:
    """The DEVICES the host has (character devices), with their numbers; looked up once."""
    if not _DEVICE_NUMBERS:
        found = [(n, os.stat(f"/dev/{n}")) for n in DEVICES if os.path.exists(f"/dev/{n}")]
        _DEVICE_NUMBERS[:] = [(name, st.st_rdev) for name, st in found if stat.S_ISCHR(st.st_mode)]
    return _DEVICE_NUMBERS


def root_steps(spec: Spec) -> list:
    """The sandbox's root, step by step: run here by build_root(), or by firebox-reaper from
    the script builder.script() makes of them (the step names are reaper.c's)."""
    root = spec["root"]
    # Private first: nothing mounted afterwards leaks to the host.
    steps = [("private",), ("tmpfs", root, str(MS_NOSUID | MS_NODEV), "size=4m,mode=0755")]
    steps += [("bind", source, root + source, "1") for source in spec["system_dirs"]]
    steps += [("symlink", target, root + link) for link, target in spec["symlinks"].items()]
    steps += [("bind", source, root + target, "1") for source, target in spec["binds"]]
    if spec.get("deferred"):
        # A pre-built environment holds the whole code store at /.code until it is assigned:
        # the monitor binds the function's package from there to /var/task, then unmounts
        # /.code (see assign()). No function code runs before that.
        steps += [("bind", spec["code_store"], root + "/.code", "1"), ("mkdir", root + "/var/task")]
    steps += [("file", root + name, content) for name, content in spec["files"].items()]
    tmp, dev = f"size={spec['tmp_mb']}m,mode=1777", "size=64k,mode=0755"
    steps += [("mkdir", root + "/opt"),
              ("tmpfs", root + "/tmp", str(MS_NOSUID | MS_NODEV), tmp),
              ("tmpfs", root + "/dev", str(MS_NOSUID | MS_NOEXEC), dev)]  # fmt: skip
    # Made, not bound: a device node in the sandbox's own /dev tmpfs is the same device as
    # the host's (the numbers are the kernel's ABI), for one mknod instead of a mount each.
    steps += [("node", f"{root}/dev/{name}", str(rdev), "/dev/" + name)
              for name, rdev in device_numbers()]  # fmt: skip
    steps += [("symlink", target, f"{root}/dev/{name}") for name, target in DEV_LINKS]
    steps += [("proc", root + "/proc"), ("pivot", root)]
    return steps


def run_step(op: str, *args: str) -> None:
    """One of root_steps() (what reaper.c's pid1_build() does for the same step)."""
    if op == "private":
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    elif op == "tmpfs":
        os.makedirs(args[0], exist_ok=True)
        mount("tmpfs", args[0], "tmpfs", int(args[1]), args[2])
    elif op == "bind":
        bind(args[0], args[1], read_only=args[2] == "1")
    elif op == "symlink":
        os.symlink(args[0], args[1])
    elif op == "file":
        os.makedirs(os.path.dirname(args[0]), exist_ok=True)
        with open(args[0], "w") as f:
            f.write(args[1])
    elif op == "mkdir":
        os.makedirs(args[0], exist_ok=True)
    elif op == "node":
        try:
            os.mknod(args[0], 0o666 | stat.S_IFCHR, int(args[1]))
            os.chmod(args[0], 0o666)  # whatever the umask took away
        except PermissionError:  # no CAP_MKNOD here (a user namespace, a device cgroup)
            bind(args[2], args[0], read_only=False)
    elif op == "proc":
        os.makedirs(args[0], exist_ok=True)
        mount("proc", args[0], "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    elif op == "pivot":
        root = args[0]
        os.makedirs(root + "/.old")
        check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
        os.chdir("/")
        check(libc.umount2(b"/.old", MNT_DETACH), "umount old root")
        os.rmdir("/.old")
        mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    else:
        raise ValueError(f"unknown build step {op}")


def build_root(spec: Spec) -> None:
    """A tmpfs root holding read-only system directories, the code and a private /tmp."""
    for step in root_steps(spec):
        run_step(*step)


def assign(channel: _socket.socket, ready_fd: int, assign_fd: int, status_fd: int) -> None:
    """Monitor side, pre-built environments: wait for a function, mount it, hand it over.

    Returns early (and the monitor then exits as pid 1 did) if pid 1 or the runtime died
    while waiting, so a dead pre-built environment is reported, never assigned.
    """
    import select

    ready = os.read(ready_fd, 1)  # pid 1 has pivoted: /.code and /var/task are in place
    os.close(ready_fd)
    if ready != b"R":
        os.close(assign_fd)
        return
    data = b""
    while True:
        readable, _, _ = select.select([channel, status_fd], [], [])
        if status_fd in readable:  # pid 1 reported (or died): nothing to assign to
            os.close(assign_fd)
            return
        chunk = channel.recv(1 << 20)
        if not chunk:
            os._exit(0)  # the server let this pre-built environment go
        data += chunk
        if len(data) >= 4 and len(data) - 4 >= int.from_bytes(data[:4], "big"):
            break
    package, opt, tmp_mb, environ = data[4:].split(b"\0", 3)  # the job's format: see reaper.c
    bind("/.code/" + package.decode(), "/var/task")
    if opt:
        bind("/.code/" + opt.decode(), "/opt")
    mount(None, "/tmp", None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={int(tmp_mb)}m,mode=1777")
    check(libc.umount2(b"/.code", MNT_DETACH), "umount the code store")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    os.rmdir("/.code")  # not even its name stays behind
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    while environ:
        environ = environ[os.write(assign_fd, environ) :]
    os.close(assign_fd)


def wait_for_interface(name: str, limit_s: float = 2.0) -> None:
    """Waits until the server has attached the outbound interface, so init can use the net."""
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with open("/proc/net/route") as f:  # configured = it carries the default route
            if any(line.startswith(f"{name}\t00000000") for line in f):
                return
        time.sleep(0.0005)


def last_cap() -> int:
    """The highest capability number this kernel knows (read once: a zygote's children ask)."""
    global LAST_CAP
    if LAST_CAP < 0:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            LAST_CAP = int(f.read())
    return LAST_CAP


LAST_CAP = -1


def enter_user_namespace(inside_uid: int, inside_gid: int) -> None:
    """A user namespace of this process's own, its uid and gid mapped to `inside_*`.

    Unprivileged, a process may map only its own ids, one each, and only once it has given up
    setgroups() in the namespace; it then holds every capability there, and none outside.
    """
    outside_uid, outside_gid = os.geteuid(), os.getegid()
    check(libc.unshare(CLONE_NEWUSER), "unshare(user)")
    for name, text in (("setgroups", "deny"), ("gid_map", f"{inside_gid} {outside_gid} 1"),
                       ("uid_map", f"{inside_uid} {outside_uid} 1")):  # fmt: skip
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


def clear_capabilities() -> None:
    """Empties the effective, permitted and inheritable sets (setresuid does it only when
    leaving uid 0, which a rootless sandbox's runtime never was)."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    data = (ctypes.c_uint32 * 6)()
    check(libc.capset(ctypes.byref(header), data), "capset")


def drop_privileges(spec: Spec, monitor_pid: int) -> None:
    """Unprivileged uid/gid, no groups, no capabilities, no way back."""
    if spec.get("rootless"):
        # The sandbox's own user namespace is uid 0 (the server's user outside); the runtime
        # goes one level deeper, as sbx_user1051, with no say over the sandbox's namespaces.
        enter_user_namespace(spec["uid"], spec["gid"])
    for cap in range(last_cap() + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if not spec.get("rootless"):
        os.setgroups([])  # denied in a user namespace an unprivileged process made
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])  # clears permitted and effective caps
    clear_capabilities()
    if spec.get("rootless"):
        # Counted per user namespace (Linux 5.14+), and every environment has its own: the
        # environment's processes, as pids.max counts them.
        resource.setrlimit(resource.RLIMIT_NPROC, (PIDS_MAX, PIDS_MAX))
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # setuid() cleared the death signal: re-arm it, then make sure the monitor is still there.
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() != monitor_pid and os.getppid() != 0:
        os._exit(1)


def load_seccomp(fd: int) -> None:
    program = os.read(fd, 1 << 20)
    os.close(fd)
    count = len(program) // 8
    filters = (SockFilter * count).from_buffer_copy(program)
    prog = SockFprog(count, ctypes.cast(filters, ctypes.POINTER(SockFilter)))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def wait_for_environment(spec: Spec) -> None:
    """In the runtime, last: a pre-built sandbox's waits for its function; then the limits
    that stand in for a missing cgroup, which need the function's MemorySize."""
    receive_environment(spec)
    if spec.get("rootless"):  # the runtime's own namespace (see drop_privileges)
        resource.setrlimit(resource.RLIMIT_NPROC, (PIDS_MAX, PIDS_MAX))
    if spec.get("memory_rlimit_mb"):  # no cgroup: a per-process limit on what it allocates
        memory = spec["environ"].get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec["memory_rlimit_mb"])
        limit = int(memory) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    start_extensions(spec["environ"])


EXTENSIONS_DIR = "/opt/extensions"


def start_extensions(environ: dict[str, str]) -> None:
    """Starts the function's external extensions (its layers' /opt/extensions executables,
    in name order) beside the runtime, with the function's environment; they register with
    the Extensions API themselves, and init ends only once they have (worker/extensions.py)."""
    try:
        names = sorted(os.listdir(EXTENSIONS_DIR))
    except OSError:
        return
    for name in names:
        path = os.path.join(EXTENSIONS_DIR, name)
        if os.path.islink(path) or not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        try:
            os.posix_spawn(path, [path], environ)
        except OSError as exc:
            print(f"firebox sandbox: extension {name} did not start: {exc.strerror}",
                  file=sys.stderr, flush=True)  # fmt: skip


def receive_environment(spec: Spec) -> None:
    """In a pre-built sandbox's runtime: block until the function is assigned, then go on."""
    fd = spec.pop("environ_fd", None)
    if fd is None:
        return
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        os._exit(0)  # released unassigned
    spec["environ"] = marshal.loads(b"".join(chunks))
    os.chdir(spec["cwd"])
    if spec.get("outbound"):
        wait_for_interface(spec["outbound"])


def exec_runtime(spec: Spec) -> None:
    """The default last step: become the runtime program."""
    if spec.get("early") and spec.get("environ_fd") is not None:
        # Pre-started: the program runs now and reads its function's environment from the
        # descriptor itself (firebox's Node runtime), so an assignment execs nothing.
        fd = spec["environ_fd"]
        os.set_inheritable(fd, True)
        if spec.get("rootless"):  # as wait_for_environment (no memory limit depends on it)
            resource.setrlimit(resource.RLIMIT_NPROC, (PIDS_MAX, PIDS_MAX))
        # What it reads only as it starts (LD_LIBRARY_PATH, …) is the template's (its key).
        environ = {k: v for k, v in spec["environ"].items() if k != "AWS_LAMBDA_RUNTIME_API"}
        environ["_FIREBOX_ASSIGN_FD"] = str(fd)
    else:
        wait_for_environment(spec)
        environ = spec["environ"]
    try:
        os.execve(spec["argv"][0], spec["argv"], environ)
    except OSError as exc:
        print(f"firebox sandbox: cannot run {spec['argv'][0]}: {exc.strerror}",
              file=sys.stderr, flush=True)  # fmt: skip
        os._exit(127)


def pid1(
    spec: Spec, monitor_pid: int, status_fd: int, run: Runner, ready_fd: int, assign_fd: int
) -> None:
    """Pid 1 of the new PID namespace: finish the sandbox, start the runtime, reap, report.

    The runtime is not pid 1 (as on Lambda): the kernel ignores signals a namespace's init
    did not ask for, so a runtime as pid 1 could not even kill itself, and nobody would reap
    the zombies of daemonised children.
    """
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    build_root(spec)
    _socket.sethostname(spec["hostname"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (spec["nofile"], spec["nofile"]))
    drop_privileges(spec, monitor_pid)
    if spec.get("seccomp_fd") is not None:
        load_seccomp(spec["seccomp_fd"])
    if not spec.get("deferred"):
        os.close(ready_fd)
        os.close(assign_fd)
        os.chdir(spec["cwd"])
        if spec.get("outbound"):
            wait_for_interface(spec["outbound"])
    else:
        # Pre-built: the root is in place; the runtime is forked now and waits for the
        # function's environment (see wait_for_environment), so an assignment forks nothing.
        os.write(ready_fd, b"R")
        os.close(ready_fd)
        spec["environ_fd"] = assign_fd
    runtime = os.fork()
    if runtime == 0:
        os.close(status_fd)
        if spec.get("reaper_fd") is not None:
            os.close(spec.pop("reaper_fd"))
        try:
            run(spec)
        except BaseException as exc:
            print(f"firebox sandbox: the runtime failed to start: {exc!r}", file=sys.stderr,
                  flush=True)  # fmt: skip
        os._exit(1)  # a runner returns only if the runtime failed to take over
    if spec.get("deferred"):
        os.close(assign_fd)
    become_reaper(spec, ["init", str(runtime), str(status_fd)], [status_fd])
    # The init: not dumpable (no /proc/1/mem for the runtime, same uid or not), deaf to every
    # signal the runtime could send it; it reaps everything and ends with the runtime.
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    import _signal

    for number in range(1, 65):
        if number not in (SIGKILL, SIGSTOP, SIGCHLD):
            try:  # noqa: SIM105 - no contextlib here (see the module docstring)
                _signal.signal(number, _signal.SIG_IGN)
            except (OSError, ValueError):
                pass
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if pid == runtime:
            os.write(status_fd, str(status).encode())
            os._exit(0)


def become_reaper(spec: Spec, args: list[str], fds: list[int]) -> None:
    """Execs firebox-reaper (reaper.c) in place of this process, which then only waits.

    Returns if there is no reaper or it cannot run: the Python code after the call does the
    same job with ~1.7 MB more memory.
    """
    fd = spec.get("reaper_fd")
    if fd is None:
        return
    for kept in fds:
        os.set_inheritable(kept, True)
    try:  # noqa: SIM105 - no contextlib here (see the module docstring)
        os.execve(fd, ["firebox-reaper", *args], {})
    except OSError:
        pass


def memory_report(counters: dict[str, int]) -> dict[str, int]:
    """What the memory limit saw. pivot_root moved this process into the sandbox's root too,
    so /tmp is the environment's own; cgroup files were opened before, as they are not here.
    """
    report = {}
    try:
        st = os.statvfs("/tmp")
        report["tmp_bytes"] = (st.f_blocks - st.f_bfree) * st.f_frsize
        # Give /tmp's memory back first: with the cgroup full, even this report could fail.
        libc.umount2(b"/tmp", MNT_DETACH)
    except OSError:
        pass
    # v1: memory.oom_control ("oom_kill N") and memory.failcnt (a number); v2: memory.events
    # for both ("oom_kill N", "max N"); none: /dev/null (nothing to report).
    for name, key, fd in (("oom_kills", "oom_kill", counters["oom"]),
                          ("limit_hits", "max", counters["hits"])):  # fmt: skip
        try:
            text = os.pread(fd, 4096, 0).decode().strip()
        except OSError:
            continue
        if not text:
            continue
        if text[0].isdigit():
            report[name] = int(text.split()[0])
            continue
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            if field == key:
                report[name] = int(value or 0)
    return report


def monitor(child: int, status_fd: int, counters: dict[str, int], channel: _socket.socket) -> None:
    """Waits for pid 1 and exits the way the runtime did, so the server sees its own status."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    reported = os.read(status_fd, 64)
    if reported:
        status = int(reported)
    report = memory_report(counters)
    try:  # noqa: SIM105 - contextlib is one more import; k=v pairs, not json (see top)
        channel.sendall(";".join(f"{k}={v}" for k, v in report.items()).encode())
    except OSError:
        pass
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (SIGKILL, SIGSTOP):  # those two cannot be handled anyway
            import _signal

            _signal.signal(sig, _signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main() -> None:
    """Entry point when run as a program: the environment's runtime is exec'd."""
    launch(marshal.loads(bytes.fromhex(sys.argv[1])), exec_runtime)


def launch(spec: Spec, run: Runner) -> None:
    """Builds the environment in this (new) process; run() finally starts the runtime."""
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)  # whoever started us is already gone
    for procs in spec["cgroups"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if spec.get("rootless"):  # root of a user namespace of its own: it may build the sandbox
        enter_user_namespace(0, 0)
    channel = _socket.socket(fileno=spec["channel_fd"])
    if spec.get("reaper"):  # opened here: after pivot_root the host path is out of sight
        try:  # noqa: SIM105
            spec["reaper_fd"] = os.open(spec["reaper"], os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            pass
    oom, hits = spec["counters"]  # zip(strict=) is 3.10+: this runs under 3.8 too
    counters = {"oom": os.open(oom, os.O_RDONLY), "hits": os.open(hits, os.O_RDONLY)}
    if spec["network"] == "isolated":
        setup_network(channel, spec["port"], spec.get("api_port", 0))
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    monitor_pid = os.getpid()
    status_read, status_write = os.pipe()  # close-on-exec: the runtime never holds it
    ready_read, ready_write = os.pipe()  # pid 1 → monitor: the root is built
    assign_read, assign_write = os.pipe()  # monitor → pid 1: the function's environment
    child = os.fork()
    if child == 0:
        os.close(status_read)
        os.close(ready_read)
        os.close(assign_write)
        channel.close()
        for fd in counters.values():  # the monitor's: host cgroup files stay outside
            os.close(fd)
        try:
            pid1(spec, monitor_pid, status_write, run, ready_write, assign_read)
        except BaseException as exc:
            print(f"firebox sandbox: {exc}", file=sys.stderr, flush=True)
            os._exit(126)
    os.close(status_write)
    os.close(ready_write)
    os.close(assign_read)
    if not spec.get("deferred"):
        os.close(ready_read)
        os.close(assign_write)
        ready_read = assign_write = -1
    fds = [status_read, channel.fileno(), counters["oom"], counters["hits"]]
    pipes = [fd for fd in (ready_read, assign_write) if fd >= 0]
    become_reaper(
        spec, ["monitor", str(child), *map(str, fds), str(ready_read), str(assign_write)],
        fds + pipes,
    )  # fmt: skip
    if spec.get("deferred"):
        assign(channel, ready_read, assign_write, status_read)
    monitor(child, status_read, counters, channel)


if __name__ == "__main__":
    main()

"""Builds one isolated execution environment, then execs its runtime. Standard library only.

Run as root by the server: `python -S -I launcher.py SPEC_JSON`. Steps, in order:
join cgroups → own network namespace (listener for the Runtime API handed back to the server)
→ unshare mount/PID/IPC/UTS → fork pid 1 → minimal read-only root with private /tmp →
pivot_root → drop to an unprivileged uid with no capabilities → NO_NEW_PRIVS → seccomp →
exec. The parent stays behind as a monitor that exits the way pid 1 exits.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
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
Spec = dict[str, Any]


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


def setup_network(channel_fd: int, port: int) -> None:
    """A network namespace of its own: loopback only, with the Runtime API listener on it."""
    check(libc.unshare(CLONE_NEWNET), "unshare(net)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP | IFF_RUNNING))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    channel = socket.socket(fileno=channel_fd)
    socket.send_fds(channel, [b"L"], [listener.fileno()])  # the server serves on it
    listener.close()
    channel.close()


def build_root(spec: Spec) -> None:
    """A tmpfs root holding read-only system directories, the code and a private /tmp."""
    root = spec["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks to the host
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    for source in spec["system_dirs"]:
        bind(source, root + source)
    for link, target in spec["symlinks"].items():
        os.symlink(target, root + link)
    for source, target in spec["binds"]:
        bind(source, root + target)
    for name, content in spec["files"].items():
        os.makedirs(os.path.dirname(root + name), exist_ok=True)
        with open(root + name, "w") as f:
            f.write(content)
    os.makedirs(root + "/opt", exist_ok=True)
    os.makedirs(root + "/tmp")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={spec['tmp_mb']}m,mode=1777")  # fmt: skip
    os.makedirs(root + "/dev")
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for device in DEVICES:
        bind("/dev/" + device, f"{root}/dev/{device}", read_only=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/.old")
    check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    check(libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges(spec: Spec, monitor_pid: int) -> None:
    """Unprivileged uid/gid, no groups, no capabilities, no way back."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    for cap in range(last_cap + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    os.setgroups([])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])  # clears permitted and effective caps
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # setuid() cleared the death signal: re-arm it, then make sure the monitor is still there.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != monitor_pid and os.getppid() != 0:
        os._exit(1)


def load_seccomp(fd: int) -> None:
    program = os.read(fd, 1 << 20)
    os.close(fd)
    count = len(program) // 8
    filters = (SockFilter * count).from_buffer_copy(program)
    prog = SockFprog(count, ctypes.cast(filters, ctypes.POINTER(SockFilter)))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def pid1(spec: Spec, monitor_pid: int, status_fd: int) -> None:
    """Pid 1 of the new PID namespace: finish the sandbox, start the runtime, reap, report.

    The runtime is not pid 1 (as on Lambda): the kernel ignores signals a namespace's init
    did not ask for, so a runtime as pid 1 could not even kill itself, and nobody would reap
    the zombies of daemonised children.
    """
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    build_root(spec)
    socket.sethostname(spec["hostname"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (spec["nofile"], spec["nofile"]))
    drop_privileges(spec, monitor_pid)
    if spec.get("seccomp_fd") is not None:
        load_seccomp(spec["seccomp_fd"])
    os.chdir(spec["cwd"])
    runtime = os.fork()
    if runtime == 0:
        try:
            os.execve(spec["argv"][0], spec["argv"], spec["environ"])
        except OSError as exc:
            print(f"firebox sandbox: cannot run {spec['argv'][0]}: {exc.strerror}",
                  file=sys.stderr, flush=True)  # fmt: skip
            os._exit(127)
    # The init loop: reap everything; when the runtime goes, so does the whole namespace.
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


def monitor(child: int, status_fd: int) -> None:
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
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main() -> None:
    spec = json.loads(sys.argv[1])
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(1)  # the server is already gone
    for procs in spec["cgroups"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if spec.get("channel_fd") is not None:
        setup_network(spec["channel_fd"], spec["port"])
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    monitor_pid = os.getpid()
    status_read, status_write = os.pipe()  # close-on-exec: the runtime never holds it
    child = os.fork()
    if child == 0:
        os.close(status_read)
        try:
            pid1(spec, monitor_pid, status_write)
        except BaseException as exc:
            print(f"firebox sandbox: {exc}", file=sys.stderr, flush=True)
            os._exit(126)
    os.close(status_write)
    monitor(child, status_read)


if __name__ == "__main__":
    main()

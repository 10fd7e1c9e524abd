"""The seccomp filter of every isolated environment, compiled once to BPF with libseccomp."""

from __future__ import annotations

import contextlib
import errno
import tempfile

# What a function never needs, and what would let it escape or harm the host. EPERM rather
# than a kill, so code that probes (e.g. for mount support) sees an ordinary error.
DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "ptrace",
    "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load", "bpf",
    "init_module", "finit_module", "delete_module", "keyctl", "add_key", "request_key",
    "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "iopl", "ioperm", "syslog", "quotactl", "lookup_dcookie", "fanotify_init", "vhangup",
    "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    # io_uring bypasses per-syscall filtering and has been a rich source of kernel bugs;
    # modify_ldt is only needed by 16-bit code.
    "io_uring_setup", "io_uring_enter", "io_uring_register", "modify_ldt",
)  # fmt: skip
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
NAMESPACE_BITS = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
)


def compile_filter() -> bytes:
    """Returns the BPF program; raises ImportError/OSError if libseccomp is unavailable."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    # A system call of another ABI (i386 int 0x80, x32) kills the whole process, not a thread.
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for name in DENIED:
        # A syscall this kernel or libseccomp does not know cannot be called either.
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
    # clone() creating namespaces is refused; plain clone (threads, fork) is allowed.
    for bit in NAMESPACE_BITS:
        flt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, bit, bit))
    # clone3 passes flags in memory a filter cannot read: ENOSYS makes libc fall back to clone.
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.seek(0)
        return out.read()

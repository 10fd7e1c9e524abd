"""Finds out which protections this host can give, by building a real sandbox and looking."""

from __future__ import annotations

import os
import select
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from firebox.sandboxes.base import SandboxFactory, SandboxSpec
from firebox.sandboxes.cgroups import CgroupSupport, detect
from firebox.sandboxes.host import tun_usable
from firebox.sandboxes.process import ProcessSandboxFactory
from firebox.sandboxes.zygotes import Zygotes

# Run inside the smoke-test sandbox: prints what it can see and who it is.
_PROBE = """
import os, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("uid", os.getuid(), os.getgid(), len(os.getgroups()))
print("pid", os.getpid())
print("root", sorted(os.listdir("/")))
print("caps", status["CapEff"].strip(), status["CapBnd"].strip())
print("nnp", status["NoNewPrivs"].strip())
print("seccomp", status["Seccomp"].strip())
print("hidden", not any(os.path.exists(p) for p in sys.argv[1:]))
"""


ISOLATION_PROTECTIONS = ("namespaces", "filesystem", "tmp", "user", "capabilities",
                         "no_new_privs", "seccomp", "cgroups", "rlimits", "network")  # fmt: skip


@dataclass(frozen=True)
class Protection:
    """One protection, whether it is in force, what enforces it, and why (not)."""

    name: str
    active: bool
    detail: str
    mechanism: str = ""  # e.g. "cgroup v2", "user namespace", "rlimit"
    advice: str = ""  # what to do when it is missing or weaker than it could be


@dataclass
class SandboxChoice:
    """The sandbox backend the server will use, and the evidence for it."""

    factory: SandboxFactory
    protections: list[Protection]

    @property
    def isolated(self) -> bool:
        return self.factory.name == "isolated"

    def as_json(self) -> list[dict[str, object]]:
        return [asdict(p) for p in self.protections]


def choose(
    mode: str,
    network: str,
    data_dir: Path,
    zygotes: Zygotes | None = None,
    sweep: bool = False,
) -> SandboxChoice:
    """Builds the factory for mode auto|isolated|process; isolated is required, not hoped for."""
    if mode == "process":
        return SandboxChoice(ProcessSandboxFactory(), _process_only("process mode was requested"))
    cgroups = detect()
    rootless = os.geteuid() != 0
    problems = _prerequisites(cgroups, rootless)
    if problems:
        if mode == "isolated":
            raise RuntimeError("isolation is unavailable: " + "; ".join(problems))
        return SandboxChoice(ProcessSandboxFactory(), _process_only("; ".join(problems)))
    from firebox.sandboxes.isolated_factory import IsolatedSandboxFactory
    from firebox.sandboxes.seccomp import compile_filter

    factory = IsolatedSandboxFactory(data_dir, network, compile_filter(), zygotes, sweep=sweep,
                                     cgroups=cgroups, rootless=rootless)  # fmt: skip
    report = _smoke_test(factory, data_dir)
    if report is None or not _confined(report, rootless):
        factory.close()  # its bridge and rules, if it made them
        reason = f"a test sandbox did not come up confined (saw: {report})"
        if mode == "isolated":
            raise RuntimeError("isolation is unavailable: " + reason)
        return SandboxChoice(ProcessSandboxFactory(), _process_only(reason))
    return SandboxChoice(factory, _isolated(report, network, cgroups, rootless))


def user_namespaces() -> str | None:
    """Why an unprivileged process cannot make a user namespace here (None: it can)."""
    for path, bad in (("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                      ("/proc/sys/user/max_user_namespaces", "0"),
                      ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")):  # fmt: skip
        try:
            if Path(path).read_text().strip() == bad:
                return f"unprivileged user namespaces are disabled ({path} = {bad})"
        except OSError:
            continue
    return None


def _prerequisites(cgroups: CgroupSupport, rootless: bool) -> list[str]:
    problems = []
    if rootless:
        why = user_namespaces()
        if why:
            problems.append(f"firebox is not root and {why}")
    elif cgroups.version == "none":
        problems.append(f"no usable cgroups ({cgroups.detail})")
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError) as exc:
        problems.append(f"libseccomp is unavailable ({exc})")
    return problems


def _smoke_test(factory: SandboxFactory, data_dir: Path) -> dict[str, str] | None:
    """Runs a tiny program in a real sandbox and returns what it reported about itself."""
    with tempfile.TemporaryDirectory(dir=data_dir) as code:
        Path(code, "probe.py").write_text(_PROBE)
        os.chmod(code, 0o755)
        # Paths that must not be visible inside: the data dir and the host's secrets.
        hidden = [str(data_dir.resolve()), "/etc/shadow", "/root", os.path.expanduser("~")]
        argv = ["/usr/bin/python3", "-S", "probe.py", *hidden]
        spec = SandboxSpec("probe-" + os.urandom(4).hex(), argv, {"PATH": "/usr/bin"},
                           Path(code), 128, 512)  # fmt: skip
        sandbox = factory.create(spec)
        try:
            sandbox.start_exec()  # type: ignore[attr-defined]
            output = _read_until_exit(sandbox.output_fd, sandbox.exit_fd, timeout=20)
        except OSError:
            return None
        finally:
            sandbox.kill()
    lines = dict(line.split(" ", 1) for line in output.splitlines() if " " in line)
    return lines or None


def _read_until_exit(output_fd: int, exit_fd: int, timeout: float) -> str:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([output_fd, exit_fd], [], [], 0.1)
        if output_fd in ready:
            try:
                chunk = os.read(output_fd, 65536)
            except BlockingIOError:
                chunk = b"-"
            if not chunk:
                break
            if chunk != b"-":
                chunks.append(chunk)
                continue
        if exit_fd in ready:
            while True:  # what the program wrote before it exited
                try:
                    chunk = os.read(output_fd, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            break
    return b"".join(chunks).decode("utf-8", "replace")


def _confined(report: dict[str, str], rootless: bool = False) -> bool:
    uid, gid, groups = (int(n) for n in report.get("uid", "0 0 1").split())
    return (
        (uid == 993 if rootless else uid >= 100_000)
        and gid == 990
        # Rootless, the server user's own groups stay (an unprivileged user namespace cannot
        # drop them; see security.md); as root there are none.
        and (rootless or groups == 0)
        and report.get("pid") == "2"  # under the sandbox's own init, as on Lambda
        and report.get("caps") == "0000000000000000 0000000000000000"
        and report.get("nnp") == "1"
        and report.get("seccomp") == "2"
        and report.get("hidden") == "True"
    )


def _isolated(
    report: dict[str, str], network: str, cgroups: CgroupSupport, rootless: bool = False
) -> list[Protection]:
    ns = "user namespace" if rootless else "namespaces (root)"
    if network != "isolated":
        net = Protection("network", False, "host mode: the function shares the host network")
    elif rootless and not tun_usable(rootless):
        advice = "make /dev/net/tun 0666 (the usual default) for outbound access"
        net = Protection("network", True, "own network namespace: loopback only (no outbound): "
                         "/dev/net/tun is not open to this user", ns, advice)  # fmt: skip
    elif rootless and not shutil.which("slirp4netns"):
        net = Protection("network", True, "own network namespace: loopback only (no outbound)",
                         ns, "install slirp4netns for outbound access")  # fmt: skip
    else:
        way = "slirp4netns" if rootless else "a veth on firebox's bridge (slirp4netns fallback)"
        net = Protection("network", True, "own network namespace: outbound, not host loopback "
                         "or peers", f"{ns}, {way}")  # fmt: skip
    if cgroups.version != "none":
        limits = Protection("cgroups", True, f"memory = MemorySize, CPU ∝ memory, pids.max 1024 "
                            f"({cgroups.detail})", cgroups.version)  # fmt: skip
        rlimits = Protection("rlimits", True, "RLIMIT_NOFILE 1024", "rlimit")
    else:
        limits = Protection("cgroups", False, "no CPU share or process limit per environment; "
                            f"memory held by RLIMIT_DATA instead ({cgroups.detail})", "",
                            cgroups.advice)  # fmt: skip
        rlimits = Protection("rlimits", True, "RLIMIT_DATA = MemorySize per process, "
                             "RLIMIT_NOFILE 1024", "rlimit")  # fmt: skip
    user = (
        Protection(
            "user",
            True,
            "sbx_user1051 (993), gid 990, in a user namespace of its own, "
            "mapped to the server's user",
            "user namespace",
        )
        if rootless
        else Protection(
            "user",
            True,
            "a uid of its own (100000+), gid 990, no supplementary groups",
            "setresuid (root)",
        )
    )
    return [
        Protection("namespaces", True, "own mount, PID, IPC and UTS namespaces, own init", ns),
        Protection(
            "filesystem",
            True,
            f"minimal read-only root; / holds {report.get('root')}",
            f"pivot_root in a mount namespace ({ns})",
        ),
        Protection(
            "tmp",
            True,
            "private /tmp limited to EphemeralStorage (counts against memory)",
            "tmpfs size=",
        ),
        user,
        Protection(
            "capabilities",
            True,
            "empty bounding, effective and ambient sets",
            "capset, PR_CAPBSET_DROP",
        ),
        Protection("no_new_privs", True, "set before exec", "prctl"),
        Protection(
            "seccomp",
            True,
            "filter denies mount, unshare/setns, ptrace, bpf, kexec, …",
            "seccomp-bpf",
        ),
        limits,
        rlimits,
        net,
    ]


def _process_only(reason: str) -> list[Protection]:
    return [
        Protection("process_group", True, "the environment's processes are killed together"),
        Protection("die_with_server", True, "PR_SET_PDEATHSIG: runtimes die with the server"),
        *(Protection(name, False, reason) for name in ISOLATION_PROTECTIONS),
    ]

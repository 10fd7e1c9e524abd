"""Server settings, built once from the command line and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_concurrency() -> int:
    """One environment per 128 MB of a quarter of the machine's memory, at least 10."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 100
    return max(10, min(1000, total // 4 // (128 * 1024 * 1024)))


@dataclass(frozen=True)
class Settings:
    """Everything a firebox server is configured with."""

    data_dir: Path = Path(".firebox")
    host: str = "127.0.0.1"
    port: int = 8070
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Maximum environments busy at once across the server (the account concurrency limit).
    concurrency_limit: int = field(default_factory=default_concurrency)
    # Idle environments are stopped after this many seconds.
    keep_alive_s: float = 600.0
    # fixed: every idle environment lives keep_alive_s; adaptive: per-function histograms of
    # idle times decide (keepalive.HybridHistogramPolicy), bins of keep_alive_bin_s.
    keep_alive_policy: str = "fixed"
    keep_alive_bin_s: float = 60.0
    # How long a runtime may take to initialise before the environment is destroyed.
    init_timeout_s: float = 10.0
    # Operator overrides of runtime interpreters, e.g. {"python3.12": "/opt/bin/python3.12"}.
    runtime_interpreters: dict[str, str] = field(default_factory=dict)
    # auto: isolated when the host allows it, plain processes (loudly) otherwise.
    sandbox: str = "auto"
    # isolated: an own network namespace per environment; host: the host's network.
    network: str = "isolated"
    # Fork environments from pre-initialised zygotes; False starts a fresh interpreter each.
    zygote: bool = True
    # Pre-built isolated environments kept ready per runtime (grows with demand); 0: none.
    pool_size: int = 2
    # What the pre-built environments may hold in all, in MB (memory charged to their cgroups).
    pool_budget_mb: int = 256
    # Network namespaces (veth attached) made ahead for new isolated environments, at most the
    # concurrency limit; 0: none.
    netns_reserve: int = 64
    # Compile each package's Python modules once, ahead, instead of at every cold start.
    precompile: bool = True
    metrics: bool = True  # record metrics and usage (off: for the benchmark's baseline)
    # Event invokes that failed are retried after n × this many seconds (AWS: ~1, then ~2 min).
    async_retry_delay_s: float = 60.0
    # HTTP API routes are served under this path prefix on the main port.
    http_prefix: str = "/http"
    # The HTTP edge (docs/security.md): a request's header section is cut off past this many
    # bytes (431), must arrive within header_timeout_s (408), and its body must not stall for
    # body_timeout_s; a control-plane body may carry max_request_bytes (Invoke and code
    # uploads have Lambda's own caps: 6 MB and 70,167,211 bytes).
    max_header_bytes: int = 64 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_request_bytes: int = 256 * 1024
    # Signatures: sigv4 verifies every request against firebox's access keys; open accepts
    # any well-formed one; auto is open while listening on loopback only, sigv4 otherwise.
    auth: str = "auto"
    # Calls signed with a role session's credentials (functions', AssumeRole's): enforce
    # denies what the role's policies do not allow, report logs it, off decides nothing.
    iam: str = "report"

    @property
    def auth_mode(self) -> str:
        if self.auth != "auto":
            return self.auth
        loopback = self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")
        return "open" if loopback else "sigv4"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "firebox.sqlite3"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.sqlite3"

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

"""Agent configuration (one dataclass shared by the CLI and the in-process API)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

TELEMETRY_PATH = "/api/v1/telemetry/"


def default_spool_path() -> str:
    """/var/lib/microdc-agent when running as root (a system service), else the XDG state dir."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        base = Path("/var/lib/microdc-agent")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "microdc-agent"
    return str(base / "spool.sqlite3")


@dataclass
class AgentConfig:
    """Everything the agent needs. ``token`` never appears in repr() or logs."""

    url: str | None = None
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    node: str = field(default_factory=socket.gethostname)
    interval: float = 10.0
    batch_samples: int = 1
    spool_path: str = field(default_factory=default_spool_path)
    spool_max_batches: int = 10_000
    spool_max_bytes: int = 256 * 1024 * 1024
    collectors: tuple[str, ...] = ("nvml", "sysfs")
    sim_gpus: int = 4
    sim_seed: int = 0
    sysfs_root: str = "/sys"
    proc_root: str = "/proc"
    run_dir: str = "/run/microdc"  # where supervised model servers' pidfiles are (microdc_service role)
    ca_file: str | None = None
    insecure: bool = False
    http_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    shutdown_timeout: float = 5.0
    nvml_raw: bool = False

    def __post_init__(self) -> None:
        self.collectors = tuple(self.collectors)
        if self.interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {self.interval}")
        if self.batch_samples < 1:
            raise ValueError(f"batch_samples must be >= 1, got {self.batch_samples}")
        if self.spool_max_batches < 1:
            raise ValueError(f"spool_max_batches must be >= 1, got {self.spool_max_batches}")
        if self.sim_gpus < 0:
            raise ValueError(f"sim_gpus must be >= 0, got {self.sim_gpus}")

    def telemetry_url(self) -> str:
        """``<url>/api/v1/telemetry/``; a URL that already names the endpoint is used as given."""
        if not self.url:
            raise ValueError("no appliance URL configured (--url or MICRODC_URL)")
        base = self.url.rstrip("/")
        if base.endswith(TELEMETRY_PATH.rstrip("/")):
            return base + "/"
        return base + TELEMETRY_PATH

    def read_token(self) -> str:
        """The node token: ``token`` if given, else the first line of ``token_file``. The file is re-read on
        every call so a rotated token is picked up without a restart."""
        if self.token:
            return self.token.strip()
        if self.token_file:
            try:
                text = Path(self.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read node token file {self.token_file}: {exc.strerror}") from exc
            if not text:
                raise ValueError(f"node token file {self.token_file} is empty")
            return text.splitlines()[0].strip()
        raise ValueError("no node token configured (--token-file or MICRODC_NODE_TOKEN)")

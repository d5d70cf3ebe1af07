"""What a job returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Facts the roles set for the appliance to register (endpoint and metrics URL of a model server).
REPORTED_FACTS = frozenset({"microdc_model_endpoint", "microdc_model_metrics_url"})


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.unreachable == 0


@dataclass
class JobResult:
    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    hosts: dict[str, HostResult]
    stdout_path: Path
    artifact_dir: Path
    private_data_dir: Path
    event_count: int
    duration_s: float

    @property
    def succeeded(self) -> bool:
        return self.status == "successful"

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


def stats_to_hosts(stats: dict[str, Any] | None) -> dict[str, HostResult]:
    """Per-host counters from the playbook_on_stats event's data."""
    hosts: dict[str, HostResult] = {}
    if not stats:
        return hosts
    mapping = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
               "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
    for key, attr in mapping.items():
        for host, count in (stats.get(key) or {}).items():
            setattr(hosts.setdefault(host, HostResult()), attr, int(count))
    for host in stats.get("processed") or {}:
        hosts.setdefault(host, HostResult())
    return hosts

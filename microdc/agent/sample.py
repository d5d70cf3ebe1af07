"""Samples and batches: the wire format the appliance's ingest validates (all values in base units).

    batch  = {"batch_id": uuid4, "node": str, "agent_version": str, "samples": [sample, ...]}
    sample = {"ts": ISO 8601 UTC with microseconds, "devices": [...], "sensors": [...]}

``batch_id`` is the idempotency key: assigned once when the batch is spooled, kept on every resend.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from microdc.agent.collectors.base import Collector
from microdc.agent.version import AGENT_VERSION

log = logging.getLogger(__name__)


def iso_timestamp(now: float) -> str:
    """Epoch seconds -> ``2026-11-27T03:40:00.123456+00:00``."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")


def _finite_metrics(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop NaN/inf readings (a flaky sensor): unknown is absent, and JSON has no NaN."""
    for entry in entries:
        metrics = entry.get("metrics", {})
        bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
        for k in bad:
            del metrics[k]
    return entries


def collect_sample(collectors: Sequence[Collector], now: float) -> tuple[dict[str, Any], dict[str, str]]:
    """Run every collector once at ``now``. A collector that raises is reported in the statuses and the
    others still run: one broken source never stops the agent."""
    devices: list[dict[str, Any]] = []
    sensors: list[dict[str, Any]] = []
    statuses: dict[str, str] = {}
    for collector in collectors:
        try:
            result = collector.collect(now)
        except Exception as exc:  # noqa: BLE001 - isolate collectors from each other
            log.exception("collector %s failed", collector.name)
            statuses[collector.name] = f"error: {type(exc).__name__}: {exc}"
            continue
        devices.extend(_finite_metrics(result.devices))
        sensors.extend(_finite_metrics(result.sensors))
        statuses[collector.name] = collector.status
    return {"ts": iso_timestamp(now), "devices": devices, "sensors": sensors}, statuses


def new_batch(node: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch_id": str(uuid.uuid4()), "node": node, "agent_version": AGENT_VERSION, "samples": samples}

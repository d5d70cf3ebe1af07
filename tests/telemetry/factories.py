"""Telemetry batches as agents send them, for tests and benchmarks."""

import datetime
import uuid


def gpu(index: int, uuid_text: str, **metrics) -> dict:
    values = {"power_watts": 300.0, "energy_joules": 1000.0, "temperature_celsius": 55.0,
              "utilization_ratio": 0.5, "memory_used_bytes": 1.0e10, "power_limit_watts": 700.0} | metrics
    return {"kind": "gpu", "index": index, "uuid": uuid_text, "name": "NVIDIA H100 80GB HBM3", "vendor": "nvidia",
            "simulated": False, "metrics": values}


def batch(node: str, samples: list[dict], batch_id: str | None = None) -> dict:
    return {"batch_id": batch_id or str(uuid.uuid4()), "node": node, "agent_version": "test", "samples": samples}


def sample(ts: datetime.datetime, devices: list[dict], sensors: list[dict] | None = None) -> dict:
    return {"ts": ts.isoformat(), "devices": devices, "sensors": sensors or []}

"""/metrics holds nothing of the process that serves it: two web processes over one database answer a scrape
with the same text (no process CPU or memory, no per-process counters, every cache keyed on the data)."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, shared_database_url, stop_process, wait_for_port

from .test_grafana_dashboard import seed

ROOT = Path(__file__).resolve().parents[2]


def timeless(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "_age_seconds" not in line)


def series(text: str) -> frozenset[str]:
    return frozenset(line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#"))


@pytest.mark.integration
def test_two_web_processes_answer_a_scrape_alike(site, rack, live_appliance, settings):
    seed(site, rack, live_appliance)  # GPUs, meters with PUE, the energy ledger, an alert
    env = dict(os.environ, DATABASE_URL=shared_database_url(), MICRODC_DATA_DIR=str(settings.DATA_DIR),
               DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="WARNING", MICRODC_METRICS_TOKEN="")
    env.pop("REDIS_URL", None)
    ports = [free_port(), free_port()]
    servers = [subprocess.Popen([sys.executable, "-m", "uvicorn", "microdc.asgi:application", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    try:
        for port, server in zip(ports, servers, strict=True):
            wait_for_port(port, server, timeout=60)
        first = [httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text for port in ports]
        again = [httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text for port in reversed(ports)]
    finally:
        for server in servers:
            stop_process(server)
    assert "microdc_gpu_power_watts" in first[0] and "microdc_pue_ratio" in first[0]
    assert "process_" not in first[0] and "python_" not in first[0]
    # Everything alike but the ages, which grow with the clock between the scrapes (not with the process).
    assert len({timeless(text) for text in first + again}) == 1
    assert len({series(text) for text in first + again}) == 1

"""A real Prometheus server scrapes the appliance on loopback; the GPU power comes back through PromQL."""

import subprocess
import time

import httpx
import pytest
from django.utils import timezone

from microdc.nodes.agent_tokens import issue_agent_token
from tests.support import free_port, require_binary

from .factories import batch, gpu, sample

UUID0 = "GPU-0a0a0a0a-0000-0000-0000-000000000000"


@pytest.mark.integration
def test_prometheus_scrapes_and_answers_promql(live_appliance, node, tmp_path):
    prometheus = require_binary("prometheus", "prometheus")
    token = issue_agent_token(node)
    response = httpx.post(f"{live_appliance.url}/api/v1/telemetry/", headers={"Authorization": f"Bearer {token}"},
                          json=batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0, power_watts=287.25)])]))
    assert response.status_code == 202, response.text

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: microdc\n"
        "    metrics_path: /metrics\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{live_appliance.port}']}}]\n"
    )
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        query = f'microdc_gpu_power_watts{{uuid="{UUID0}",node="gpu-01",site="plant-1"}}'
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5)
            except httpx.TransportError:
                continue
            result = answer.json().get("data", {}).get("result", [])
        assert result, f"Prometheus never returned {query}"
        assert float(result[0]["value"][1]) == 287.25
        assert result[0]["metric"]["job"] == "microdc"
        targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets").json()["data"]["activeTargets"]
        assert targets[0]["health"] == "up", targets[0].get("lastError")
    finally:
        server.terminate()
        server.wait(timeout=20)

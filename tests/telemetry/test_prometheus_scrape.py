"""A real Prometheus server scrapes the appliance on loopback; the GPU power comes back through PromQL."""

import time

import httpx
import pytest
from django.utils import timezone

from microdc.nodes.agent_tokens import issue_agent_token
from tests.support import PrometheusServer

from .factories import batch, gpu, sample

UUID0 = "GPU-0a0a0a0a-0000-0000-0000-000000000000"


@pytest.mark.integration
def test_prometheus_scrapes_and_answers_promql(live_appliance, node, tmp_path):
    token = issue_agent_token(node)
    response = httpx.post(f"{live_appliance.url}/api/v1/telemetry/", headers={"Authorization": f"Bearer {token}"},
                          json=batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0, power_watts=287.25)])]))
    assert response.status_code == 202, response.text

    with PrometheusServer(tmp_path, [f"127.0.0.1:{live_appliance.port}"]) as prometheus:
        query = f'microdc_gpu_power_watts{{uuid="{UUID0}",node="gpu-01",site="plant-1"}}'
        deadline = time.monotonic() + 60
        result = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                result = prometheus.query(query).get("data", {}).get("result", [])
            except (RuntimeError, httpx.TransportError):
                continue
        assert result, f"Prometheus never returned {query}"
        assert float(result[0]["value"][1]) == 287.25
        assert result[0]["metric"]["job"] == "microdc"
        targets = httpx.get(f"{prometheus.url}/api/v1/targets").json()["data"]["activeTargets"]
        assert targets[0]["health"] == "up", targets[0].get("lastError")

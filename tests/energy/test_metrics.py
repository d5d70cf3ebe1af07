"""/metrics: the ledger's per-deployment counters, names that repeat after a removal, promtool, and a real
Prometheus whose rate(energy) / rate(tokens) equals the API's J/token over the same period."""

import datetime
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from microdc.energy.embodied import SECONDS_PER_YEAR
from microdc.energy.models import Reservation, UsageBucket
from microdc.provisioning.models import Deployment
from tests.energy.ledger_rows import HOUR, metered_site, usage
from tests.support import free_port, require_binary

H0 = datetime.datetime(2026, 11, 27, 0, 0, tzinfo=datetime.UTC)
HOURLY = {"gpu_joules": 360000.0, "node_joules": 540000.0, "facility_joules": 702000.0, "requests": 600.0,
          "failed_requests": 6.0, "prompt_tokens": 60000.0, "generation_tokens": 30000.0,
          "operational_grams": 60.0}


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def ledger(node):
    node.embodied_kgco2e, node.expected_life_years = 500.0, 4.0
    node.save()
    old = Deployment.objects.create(name="chat", runtime="vllm", status="removed")
    chat = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    tiny = Deployment.objects.create(name="tiny", runtime="llamacpp", status="healthy")
    Reservation.objects.create(deployment=tiny, node=node, start=H0 - HOUR)
    unknown = HOURLY | {"requests": None, "failed_requests": None}
    UsageBucket.objects.bulk_create([
        usage(old, node, H0 - HOUR, UsageBucket.HOUR, **HOURLY),
        usage(chat, node, H0, UsageBucket.HOUR, **HOURLY),
        usage(chat, node, H0 + HOUR, UsageBucket.HOUR, **HOURLY),
        usage(chat, node, H0 + HOUR, **HOURLY),  # a minute row: the hour row already holds it
        usage(tiny, node, H0, UsageBucket.HOUR, **unknown),
    ])
    return chat, tiny


@pytest.mark.django_db
def test_counters_are_sums_of_hour_rows(ledger, client):
    chat, tiny = ledger
    found = samples(client.get("/metrics").content.decode())
    base = (("deployment", "chat"), ("deployment_id", str(chat.pk)))
    assert found["microdc_deployment_energy_joules_total", (*base, ("level", "gpu"), ("node", "gpu-01"))] == 720000.0
    assert found["microdc_deployment_energy_joules_total",
                 (*base, ("level", "facility"), ("node", "gpu-01"))] == 1404000.0
    assert found["microdc_deployment_requests_total", (*base, ("node", "gpu-01"), ("outcome", "failure"))] == 12.0
    assert found["microdc_deployment_tokens_total", (*base, ("kind", "generation"), ("node", "gpu-01"))] == 60000.0
    assert found["microdc_deployment_carbon_grams_total", (*base, ("kind", "operational"))] == 120.0
    # The removed "chat" left /metrics; its rows never add to the new one's.
    assert {dict(labels)["deployment_id"] for _, labels in found if dict(labels).get("deployment") == "chat"} \
        == {str(chat.pk)}
    tiny_labels = {name: dict(labels) for name, labels in found if dict(labels).get("deployment") == "tiny"}
    assert "microdc_deployment_requests_total" not in tiny_labels  # unknown: absent, never 0
    embodied = found["microdc_deployment_carbon_grams_total",
                     (("deployment", "tiny"), ("deployment_id", str(tiny.pk)), ("kind", "embodied"))]
    held = (datetime.datetime.now(datetime.UTC) - (H0 - HOUR)).total_seconds()
    assert embodied == pytest.approx(held * 500_000 / (4 * SECONDS_PER_YEAR), rel=1e-4)


@pytest.mark.django_db
def test_promtool_finds_nothing_to_lint(ledger, client):
    promtool = require_binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "metrics"], input=client.get("/metrics").content,
                            capture_output=True)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b"", result


def _query(port: int, promql: str) -> list:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": promql}, timeout=5)
    except httpx.TransportError:
        return []
    if answer.status_code != 200:  # 503 "Service Unavailable" in plain text until Prometheus is ready
        return []
    return answer.json().get("data", {}).get("result", [])


def _wait_for(port: int, promql: str, accept, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = _query(port, promql)
        if result and accept(float(result[0]["value"][1])):
            return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never answered {promql} as expected (last: {_query(port, promql)})")


@pytest.mark.integration
def test_prometheus_rate_ratio_equals_the_api_joules_per_token(live_appliance, node, users, tmp_path):
    prometheus = require_binary("prometheus", "prometheus")
    chat = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    Reservation.objects.create(deployment=chat, node=node, start=H0)
    metered_site(node.rack.site, H0 + HOUR, H0 + 3 * HOUR, pue=1.3)
    # A baseline before the period, as large as the period itself (rate never extrapolates to below zero).
    UsageBucket.objects.bulk_create([usage(chat, node, H0, UsageBucket.HOUR, **HOURLY | {"prompt_tokens": 9e4})])
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
                      "  - job_name: microdc\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{live_appliance.port}']}}]\n")
    server = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        tokens = 'sum(microdc_deployment_tokens_total{deployment="chat"})'
        _wait_for(port, tokens, lambda v: v == 120000.0)
        time.sleep(3)  # a few scrapes of the baseline
        # The period: two hours whose J/token differs from the baseline's.
        busy = HOURLY | {"gpu_joules": 500000.0, "node_joules": 800000.0, "facility_joules": 1040000.0}
        UsageBucket.objects.bulk_create([usage(chat, node, H0 + HOUR, UsageBucket.HOUR, **busy),
                                         usage(chat, node, H0 + 2 * HOUR, UsageBucket.HOUR, **busy)])
        _wait_for(port, tokens, lambda v: v == 300000.0)
        api = APIClient()
        api.force_authenticate(users["viewer"])
        period = {"start": (H0 + HOUR).isoformat(), "end": (H0 + 3 * HOUR).isoformat()}
        result = api.get(f"/api/v1/deployments/{chat.pk}/energy/", period).json()["results"][0]
        for level in ("gpu", "node", "facility"):
            promql = (f'sum(rate(microdc_deployment_energy_joules_total{{deployment="chat",level="{level}"}}[1m]))'
                      ' / sum(rate(microdc_deployment_tokens_total{deployment="chat"}[1m]))')
            answer = float(_query(port, promql)[0]["value"][1])
            assert answer == pytest.approx(result["joules_per_token"][level], rel=1e-9), level
        assert result["joules_per_token"]["node"] == pytest.approx(1.6e6 / 180000.0)
    finally:
        server.terminate()
        server.wait(timeout=20)

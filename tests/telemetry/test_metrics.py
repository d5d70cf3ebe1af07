"""/metrics: contract names and labels, simulated marking, staleness, bearer token, promtool-clean."""

import datetime
import os
import shutil
import subprocess

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from microdc.nodes.agent_tokens import issue_agent_token
from microdc.telemetry.batch import parse_batch
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.limits import check_new_sensors
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source
from microdc.telemetry.store import Reading, store

from .factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return response


def series(text):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def find(parsed, name, **labels):
    return [v for (n, lbls), v in parsed.items() if n == name and all((k, w) in lbls for k, w in labels.items())]


@pytest.mark.django_db
def test_gpu_series_follow_the_contract(client, node):
    device = gpu(0, UUID0, power_watts=312.5, energy_joules=98765.0, temperature_celsius=61.0,
                 utilization_ratio=0.83, memory_used_bytes=4.2e10, power_limit_watts=700.0)
    device["throttle_reasons"] = ["sw_power_cap"]
    ingest_batch(node, batch(node.hostname, [sample(timezone.now(), [device])]))
    response = scrape(client)
    assert response["Content-Type"].startswith("text/plain; version=")
    parsed = series(response.content.decode())
    labels = {"site": "plant-1", "rack": "R1", "node": "gpu-01", "gpu": "0", "uuid": UUID0,
              "model": "NVIDIA H100 80GB HBM3"}
    expected = {"microdc_gpu_power_watts": 312.5, "microdc_gpu_energy_joules_total": 98765.0,
                "microdc_gpu_temperature_celsius": 61.0, "microdc_gpu_utilization_ratio": 0.83,
                "microdc_gpu_memory_used_bytes": 4.2e10, "microdc_gpu_power_limit_watts": 700.0}
    for name, value in expected.items():
        assert find(parsed, name, **labels) == [value], name
    assert find(parsed, "microdc_gpu_clock_event_active", reason="sw_power_cap") == [1.0]
    assert find(parsed, "microdc_node_up", node="gpu-01") == [1.0]
    assert not [k for k in parsed if ("simulated", "true") in k[1]]
    assert find(parsed, "microdc_telemetry_samples_total", node="gpu-01") == [1.0]


@pytest.mark.django_db
def test_simulated_devices_are_labelled(client, node):
    device = gpu(0, "GPU-SIM-1") | {"simulated": True}
    ingest_batch(node, batch(node.hostname, [sample(timezone.now(), [device])]))
    parsed = series(scrape(client).content.decode())
    assert find(parsed, "microdc_gpu_power_watts", uuid="GPU-SIM-1", simulated="true") == [300.0]


@pytest.mark.django_db
def test_silent_node_series_disappear_and_node_is_down(client, node, settings):
    settings.MICRODC_TELEMETRY_STALE_SECONDS = 60
    then = timezone.now() - datetime.timedelta(minutes=3)
    ingest_batch(node, batch(node.hostname, [sample(then, [gpu(0, UUID0)])]), now=then)
    parsed = series(scrape(client).content.decode())
    assert not find(parsed, "microdc_gpu_power_watts")
    assert find(parsed, "microdc_node_up", node="gpu-01") == [0.0]
    assert find(parsed, "microdc_node_last_seen_age_seconds", node="gpu-01")[0] >= 180


@pytest.mark.django_db
def test_bearer_token_setting(client, settings):
    settings.MICRODC_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer scrape-me")


@pytest.mark.django_db
def test_promtool_finds_nothing_to_lint(client, node):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (Debian package prometheus)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    device = gpu(0, UUID0) | {"throttle_reasons": ["hw_slowdown"]}
    ingest_batch(node, batch(node.hostname, [sample(timezone.now(), [device], [
        {"source": "rapl", "chip": "intel-rapl:0", "name": "package-0", "metrics": {"energy_joules": 12.0}},
        {"source": "hwmon", "chip": "coretemp", "name": "Package id 0", "metrics": {"temperature_celsius": 50.0}},
    ])]))
    text = scrape(client).content
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout == b"" and result.stderr == b""


@pytest.mark.django_db
def test_history_api(node, client_for):
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_agent_token(node)}")
    t0 = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(minutes=5)
    samples = [sample(t0 + datetime.timedelta(seconds=10 * i), [gpu(0, UUID0, power_watts=100.0 + i,
                                                                      energy_joules=1000.0 + 100 * i)])
               for i in range(12)]
    ingest_batch(node, batch(node.hostname, samples))
    from microdc.telemetry.rollups import roll_up_dirty

    roll_up_dirty()
    viewer = client_for("viewer")
    raw = viewer.get("/api/v1/telemetry/history/", {"uuid": UUID0, "metric": "power_watts",
                                                    "start": (t0 - datetime.timedelta(minutes=1)).isoformat()})
    assert raw.status_code == 200, raw.json()
    assert [p["value"] for p in raw.json()["series"][0]["points"]] == [100.0 + i for i in range(12)]
    minute = viewer.get("/api/v1/telemetry/history/", {"node": "gpu-01", "metric": "energy_joules",
                                                       "resolution": "1m",
                                                       "start": (t0 - datetime.timedelta(minutes=1)).isoformat()})
    increases = [p["increase"] for p in minute.json()["series"][0]["points"]]
    assert sum(increases) == pytest.approx(1100.0)
    bad = viewer.get("/api/v1/telemetry/history/", {"node": "gpu-01"})
    assert bad.status_code == 400 and "metric" in bad.json()
    bad = viewer.get("/api/v1/telemetry/history/", {"node": "gpu-01", "metric": "power_watts", "start": "soon"})
    assert bad.status_code == 400 and "start" in bad.json()
    latest = viewer.get("/api/v1/telemetry/latest/", {"node": "gpu-01"}).json()
    assert latest["sources"][0]["values"]["power_watts"] == 111.0
    assert APIClient().get("/api/v1/telemetry/latest/", {"node": "gpu-01"}).status_code == 401


@pytest.mark.django_db
def test_model_server_counters_are_not_node_sensors(client, node):
    """energy.scrape's per-deployment sources sit on the node; /metrics shows them per deployment (from the
    ledger), never as microdc_node_sensor_* series, and they do not count against the agent's sensor limit."""
    with transaction.atomic():
        source = Source.objects.create(key=f"{MODEL_SERVER_KEY_PREFIX}1/{node.pk}", node=node, sensor="model/chat")
        store([Reading(source, timezone.now(), {"requests_total": 5.0, "generation_tokens_total": 900.0})])
    text = scrape(client).content.decode()
    assert "microdc_node_sensor_requests" not in text and 'source="model"' not in text
    assert "microdc_node_up" in text
    now = timezone.now()
    parsed = parse_batch(batch(node.hostname, [sample(now, [gpu(0, UUID0, power_watts=100.0)])]), now)
    check_new_sensors(node, parsed, [f"hwmon/x/s{i}" for i in range(256)])  # the model source takes no slot

"""The real runtime end to end: MLServer deployed through the API onto the loopback sshd node answers N real V2
inference requests (and a few bad ones), and the appliance's scrape rounds and rollups count exactly N
successes and the failures, with the model server fresh throughout."""

import json
import shutil
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from microdc.energy.adapters import mlserver
from microdc.energy.models import ModelServer
from microdc.energy.scrape import Scraper
from microdc.energy.servers import sync_model_servers
from microdc.provisioning import jobs
from microdc.provisioning.models import Deployment
from microdc.telemetry.models import Rollup
from microdc.telemetry.rollups import roll_up_dirty
from tests.energy.test_adapters import page
from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]

GOOD = 7
BAD = 2


def infer(port: int, values: list[float], features: int = 1) -> dict:
    body = json.dumps({"inputs": [{"name": "x", "shape": [len(values) // features, features], "datatype": "FP64",
                                   "data": values}]})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/iris/infer", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def increase(server: ModelServer, resolution: int, metric: str) -> float:
    rollups = Rollup.objects.filter(source=server.source, resolution=resolution)
    return sum(r.stats.get(metric, {}).get("delta", 0.0) for r in rollups)


def shape(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """The adapter's families on a page: name -> (type, label names of its samples)."""
    return {f.name: (f.type, frozenset(label for s in f.samples for label in s.labels))
            for f in text_string_to_metric_families(text) if f.name in mlserver.FAMILIES}


@pytest.mark.django_db(transaction=True)
def test_mlserver_answers_n_requests_and_the_appliance_counts_n(client_for, node_on_sshd, sklearn_model, settings,
                                                                tmp_path):
    node, _ = node_on_sshd
    artifact = tmp_path / "artifacts" / "model.joblib"
    shutil.copy(sklearn_model.path, artifact)
    port = free_port()
    body = {"name": "iris", "runtime": "mlserver", "revision": {
        "artifact": str(artifact), "artifact_sha256": sklearn_model.sha256, "nodes": ["node1"], "port": port}}
    response = client_for("operator").post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 202, response.content
    job = jobs.execute(response.json()["job"]["id"])
    assert job.status == "succeeded", job.summary + job.stdout[-3000:]
    deployment = Deployment.objects.get(pk=response.json()["deployment"]["id"])
    metrics_url = f"http://127.0.0.1:{settings.MICRODC_ANSIBLE_EXTRA_VARS['mlserver_metrics_port']}/metrics"
    assert deployment.status == "healthy"
    assert [(e["node"], e["state"], e["metrics_url"]) for e in deployment.endpoints] == [
        ("node1", "healthy", metrics_url)]

    sync_model_servers()
    server = ModelServer.objects.get(deployment=deployment)
    assert (server.active, server.node, server.runtime, server.metrics_url) == (True, node, "mlserver", metrics_url)

    scraper = Scraper(max_workers=2)
    try:
        # A server that has answered nothing yet: its counters are zero, read from its own page.
        assert scraper.run_round() == 1
        server.refresh_from_db()
        assert server.stale_reason == "", server.stale_reason
        assert server.source.last_values["requests_total"] == 0

        for _ in range(GOOD):
            assert infer(port, sklearn_model.inputs)["outputs"][0]["data"] == sklearn_model.expected
        for _ in range(BAD):  # three features for a model fitted on one: scikit-learn refuses it
            with pytest.raises(urllib.error.HTTPError) as refused:
                infer(port, [1.0, 2.0, 3.0], features=3)
            assert refused.value.code >= 400
        with urllib.request.urlopen(metrics_url, timeout=10) as answer:
            real_page = answer.read().decode()

        assert scraper.run_round() == 1
    finally:
        scraper.shutdown()
    roll_up_dirty()

    server.refresh_from_db()
    assert server.stale_reason == "" and server.consecutive_failures == 0 and server.last_success
    assert server.model_name == "iris"
    for resolution in (Rollup.MINUTE, Rollup.HOUR):
        assert increase(server, resolution, "requests_total") == pytest.approx(GOOD, abs=1e-9)
        assert increase(server, resolution, "failed_requests_total") == pytest.approx(BAD, abs=1e-9)
        # The duration summary times every request, the refused ones too.
        assert increase(server, resolution, "e2e_latency_seconds_count_total") == pytest.approx(GOOD + BAD, abs=1e-9)
    # The page the adapter tests read has the real server's shape (tests/energy/pages/mlserver.prom).
    assert shape(real_page) == shape(page("mlserver"))

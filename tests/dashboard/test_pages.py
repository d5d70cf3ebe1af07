"""The dashboard pages: who may see them, what they say in each state, and that they stay cheap."""

import dataclasses
import datetime
import json
import re
import sys
import types

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from microdc.alerts.evaluation import evaluate
from microdc.alerts.models import AlertRule
from microdc.dashboard import provisioning
from microdc.nodes.models import Accelerator, Node
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import AgentState

from .conftest import gpu_batch

PAGES = ["/", "/racks/", "/facility/", "/jobs/"]


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def reporting(small_site):
    """Both nodes reporting just now: gpu-01's four GPUs at 50-53 °C, gpu-02's two at 45 °C."""
    n1, n2 = small_site["nodes"]
    ingest_batch(n1, gpu_batch(n1, {i: {"temperature_celsius": 50.0 + i, "power_watts": 200.0} for i in range(4)}))
    ingest_batch(n2, gpu_batch(n2, {i: {"temperature_celsius": 45.0} for i in range(2)}))
    return small_site


@dataclasses.dataclass
class FakePue:
    window: str
    start: datetime.datetime
    end: datetime.datetime
    pue: float | None
    complete: bool
    reason: str
    category: int | None
    facility_energy_joules: float | None = 3.6e6 * 1.34
    it_energy_joules: float | None = 3.6e6
    cooling_energy_joules: float | None = 3.6e6 * 0.25
    other_energy_joules: float | None = 0.0
    it_source: str = "meters"
    partial_pue_cooling: float | None = 1.25
    cue_kg_per_kwh: float | None = 0.509
    carbon_intensity_g_per_kwh: float | None = 380.0
    wue_l_per_kwh: float | None = None


def fake_pue_module(results: dict[str, FakePue]) -> types.ModuleType:
    module = types.ModuleType("microdc.facility.pue")
    module.calls = []

    def site_pue(site, window, now=None):
        module.calls.append(window)
        return results[window]

    module.site_pue = site_pue
    return module


def pue_result(window: str, **changes) -> FakePue:
    end = timezone.now()
    span = {"5m": 300, "1h": 3600, "24h": 86400, "30d": 30 * 86400}[window]
    values = {"window": window, "start": end - datetime.timedelta(seconds=span), "end": end, "pue": 1.34,
              "complete": True, "reason": "", "category": 2} | changes
    return FakePue(**values)


@pytest.fixture
def pue_service(monkeypatch):
    """Replace microdc.facility.pue with a fake whose results a test chooses."""
    def install(**results):
        module = fake_pue_module({w: results.get(w, pue_result(w)) for w in ("5m", "1h", "24h", "30d")})
        monkeypatch.setitem(sys.modules, "microdc.facility.pue", module)
        return module

    return install


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_login(client, reporting, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_views_every_page(client, users, reporting, role):
    client.force_login(users[role])
    n1 = reporting["nodes"][0]
    paths = PAGES + [f"/racks/{reporting['racks'][0].pk}/", f"/nodes/{n1.pk}/"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert b'id="live-config"' in response.content, path


@pytest.mark.django_db
def test_chart_data_needs_a_login_and_answers_json(client, users, reporting):
    n1 = reporting["nodes"][0]
    urls = [f"/charts/sites/{reporting['site'].pk}/it-power?window=1h", f"/charts/nodes/{n1.pk}?window=15m",
            f"/charts/meters/{reporting['meters']['pdu'].pk}?window=1h"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 401 and response.json()["detail"].startswith("Log in")
    client.force_login(users["viewer"])
    for url in urls:
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_overview_says_when_the_pue_service_is_unavailable(client, users, reporting, monkeypatch):
    monkeypatch.setitem(sys.modules, "microdc.facility.pue", None)  # importing it now fails
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    assert html.count("PUE service unavailable") >= 2  # 5m and 24h
    assert "unavailable" in html


@pytest.mark.django_db
def test_overview_shows_an_incomplete_pue_with_its_reason_and_category(client, users, reporting, pue_service):
    pue_service(**{"24h": pue_result("24h", pue=None, complete=False, category=2,
                                     reason="PDU R1: data covers 40% of the window")})
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    five = re.search(r'id="pue-5m".*?</article>', html, re.S).group(0)
    day = re.search(r'id="pue-24h".*?</article>', html, re.S).group(0)
    assert "1.34" in five and "category 2" in five and "complete" in five and "incomplete" not in five
    assert "incomplete" in day and "PDU R1: data covers 40% of the window" in day and "1.34" not in day
    assert "0.509" in html and "380 g/kWh" in html  # CUE and grid intensity from the PUE service


@pytest.mark.django_db
def test_facility_page_breaks_the_pue_down_and_explains_the_category(client, users, reporting, pue_service):
    pue_service(**{"30d": pue_result("30d", complete=False, pue=None, reason="UPS: no readings")})
    client.force_login(users["viewer"])
    html = client.get("/facility/").content.decode()
    row = re.search(r'<tr data-window="5m">.*?</tr>', html, re.S).group(0)
    assert "1.34" in row and "1.340 kWh" in row and "1.000 kWh" in row and "0.250 kWh" in row
    assert "UPS: no readings" in html
    assert "metered at the PDU outputs by PDU R1: category 2" in html
    assert "Total facility energy: Utility." in html
    # Every meter with its protocol; only the simulated one marked so.
    for name, protocol in (("PDU R1", "Redfish"), ("Utility", "Modbus TCP"), ("CDU", "Redfish")):
        card = re.search(rf'<article class="card meter[^"]*"[^>]*>\s*<header class="card-head">\s*<h2[^>]*>{name}'
                         r'.*?</article>', html, re.S).group(0)
        assert protocol in card, name
        assert ("simulated" in card) == (name == "Utility"), name


@pytest.mark.django_db
def test_simulated_racks_and_nodes_are_marked(client, users, reporting):
    client.force_login(users["viewer"])
    html = client.get("/racks/").content.decode()
    r1 = re.search(rf'data-rack="{reporting["racks"][0].pk}".*?</section>', html, re.S).group(0)
    r2 = re.search(rf'data-rack="{reporting["racks"][1].pk}".*?</section>', html, re.S).group(0)
    assert "simulated" not in r1
    assert r2.count("simulated") >= 2  # the rack and its node


@pytest.mark.django_db
def test_rack_elevation_places_nodes_by_unit_and_shows_numbers_on_tiles(client, users, reporting):
    client.force_login(users["viewer"])
    rack = reporting["racks"][0]
    html = client.get(f"/racks/{rack.pk}/").content.decode()
    # gpu-01 occupies U10-U13 of a 42U rack: grid rows count from the top, so it starts at row 42-13+1 = 30.
    assert 'style="grid-row: 30 / span 4"' in html
    tiles = re.findall(r'<span class="tile-value">([^<]+)</span>', html)
    assert tiles == ["50.0 °C", "51.0 °C", "52.0 °C", "53.0 °C"]
    assert 'aria-label="GPU 2: 52.0 °C"' in html
    power = client.get(f"/racks/{rack.pk}/?measure=power").content.decode()
    assert re.findall(r'<span class="tile-value">([^<]+)</span>', power) == ["200 W"] * 4


@pytest.mark.django_db
def test_node_page_shows_throttle_reasons_in_words_and_agent_last_seen(client, users, small_site):
    node = small_site["nodes"][0]
    body = gpu_batch(node, {0: {"temperature_celsius": 91.0}, 1: {}})
    body["samples"][0]["devices"][0]["throttle_reasons"] = ["sw_thermal_slowdown", "sw_power_cap"]
    ingest_batch(node, body)
    AlertRule.objects.filter(key="gpu_temperature_high").update(for_seconds=0)
    evaluate()  # what the worker does every few seconds
    client.force_login(users["viewer"])
    html = client.get(f"/nodes/{node.pk}/").content.decode()
    assert "too hot: driver slowing clocks" in html and "power cap (drawing its power limit)" in html
    assert "not throttled" in html  # GPU 1
    assert "reporting" in html and "Last seen" in html
    assert "gpu-01 GPU 0 at 91 °C (alarm at 85 °C)" in html  # the node's own firing alerts


@pytest.mark.django_db
def test_model_server_section_follows_the_provisioning_app(client, users, reporting, monkeypatch):
    node = reporting["nodes"][0]
    client.force_login(users["viewer"])
    monkeypatch.setattr(provisioning, "model", lambda name: None)
    assert "Model servers" not in client.get(f"/nodes/{node.pk}/").content.decode()
    assert "Provisioning is not installed yet" in client.get("/jobs/").content.decode()
    monkeypatch.undo()
    if provisioning.model("Deployment") is None:
        pytest.skip("the provisioning app has no Deployment model in this tree")
    assert "No model servers on this node." in client.get(f"/nodes/{node.pk}/").content.decode()


@pytest.mark.django_db
def test_overview_lists_alarms_and_counts_nodes(client, users, small_site):
    n1, n2 = small_site["nodes"]
    ingest_batch(n1, gpu_batch(n1, {0: {"ecc_uncorrected_errors_total": 3}, 1: {"temperature_celsius": 88.0}}))
    AgentState.objects.create(node=n2, last_seen=timezone.now() - datetime.timedelta(minutes=10))
    Node.objects.create(hostname="gpu-03", management_address="10.0.0.13", rack=small_site["racks"][0],
                        position_u=20, status=Node.Status.MAINTENANCE)
    AlertRule.objects.filter(key="gpu_temperature_high").update(for_seconds=0)
    evaluate()  # what the worker does every few seconds
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    assert re.search(r'id="nodes-up">1<', html) and re.search(r'id="nodes-down">1<', html)
    assert "1 in maintenance" in html
    alarms = re.search(r'<ul class="alarms" id="alarms">.*?</ul>', html, re.S).group(0)
    assert "gpu-02: agent silent since" in alarms
    assert "gpu-01 GPU 0: 3 uncorrectable memory errors" in alarms
    assert "gpu-01 GPU 1 at 88 °C (alarm at 85 °C)" in alarms
    severities = re.findall(r'class="alarm (\w+) ', alarms)
    assert severities.count("critical") == 2 and severities == sorted(severities)  # critical first
    assert "gpu-03" not in alarms  # maintenance is not an alarm


@pytest.mark.django_db
def test_kiosk_view_has_no_navigation_and_rotates(client, users, reporting):
    client.force_login(users["viewer"])
    html = client.get("/?kiosk=1&rotate=20").content.decode()
    assert "<nav" not in html and 'id="clock"' in html and 'class="kiosk"' in html
    config = json.loads(re.search(r'<script id="live-config" type="application/json">(.*?)</script>', html,
                                  re.S).group(1))
    assert config["kiosk"] is True and config["rotate"] == 20 and config["groups"] == [
        f"site.{reporting['site'].pk}"]
    assert "<nav" in client.get("/").content.decode()


def _grow(site_fixture, extra: int) -> None:
    """Add `extra` reporting nodes of 8 GPUs each to the first rack."""
    rack = site_fixture["racks"][0]
    for n in range(extra):
        node = Node.objects.create(hostname=f"extra-{n}", management_address="10.0.2.1", rack=rack,
                                   position_u=20 + 2 * n, height_u=2)
        for index in range(8):
            Accelerator.objects.create(node=node, index=index, vendor="nvidia", model="H100",
                                       uuid=f"GPU-extra-{n}-{index}")
        devices = {i: {"temperature_celsius": 40.0} for i in range(8)}
        body = gpu_batch(node, devices)
        for i, device in enumerate(body["samples"][0]["devices"]):
            device["uuid"] = f"GPU-extra-{n}-{i}"
        ingest_batch(node, body)


@pytest.mark.django_db
def test_pages_cost_the_same_few_queries_whatever_the_number_of_nodes(client, users, reporting, pue_service):
    pue_service()
    client.force_login(users["viewer"])
    node = reporting["nodes"][0]
    paths = ["/", "/racks/", f"/racks/{reporting['racks'][0].pk}/", f"/nodes/{node.pk}/", "/facility/"]

    def count(path):
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    small = {path: count(path) for path in paths}
    _grow(reporting, 6)
    large = {path: count(path) for path in paths}
    assert large == small, f"queries grew with the number of nodes: {small} -> {large}"
    assert max(small.values()) <= 25, small
    print("queries per page:", small)

"""The shipped Grafana dashboard: its structure (a datasource variable, a unit and a description on every panel),
and every panel query run against a real Prometheus scraping the appliance, which must parse and return data.
Grafana itself is not installable here; Prometheus answers the queries Grafana would send."""

import datetime
import json
import re
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from microdc.facility.models import MeterState
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from tests.alerts.alerts import firing
from tests.dashboard.ledger_rows import seed_ledger
from tests.support import PrometheusServer, wait_for
from tests.telemetry.factories import batch, gpu, sample

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "microdc.json"
RULES = ROOT / "monitoring" / "prometheus" / "microdc.rules.yml"


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def targets(dashboard: dict):
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel, target


def test_the_dashboard_is_well_formed():
    dashboard = load()
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["site"]["datasource"]["uid"] == "${datasource}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']} has no unit"
        assert len(panel["description"]) > 30, f"{panel['title']} has no description"
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for needed in ("PUE", "Facility power", "GPU power by rack", "Energy per generated token", "Carbon per 1,000"):
        assert needed in titles


def seed(site, rack, live_appliance) -> None:
    now = timezone.now().replace(microsecond=0)
    site.pue_target = 1.2
    site.save()
    nodes = []
    for i in (1, 2):
        node = Node.objects.create(hostname=f"gpu-{i:02d}", management_address=f"10.0.0.{i}", rack=rack,
                                   position_u=4 * i)
        devices = [gpu(index, f"GPU-{i}-{index}", power_watts=300.0 + index, temperature_celsius=60.0 + index,
                       utilization_ratio=0.5, ecc_uncorrected_errors_total=0) for index in range(2)]
        response = httpx.post(f"{live_appliance.url}/api/v1/telemetry/",
                              headers={"Authorization": f"Bearer {issue_agent_token(node)}"},
                              json=batch(node.hostname, [sample(now, devices)]))
        assert response.status_code == 202, response.text
        nodes.append(node)
    assert Accelerator.objects.count() == 4
    feed = FacilityMeter.objects.create(site=site, name="Utility feed", kind="utility_feed",
                                        boundary="facility_input", protocol="push", poll_interval_seconds=30)
    pdu = FacilityMeter.objects.create(site=site, rack=rack, name="PDU A", kind="pdu", boundary="it_load",
                                       it_measurement_point="pdu_output", protocol="push", poll_interval_seconds=30,
                                       breaker_ratings_amperes={"": 32.0})
    ups = FacilityMeter.objects.create(site=site, name="UPS", kind="ups", boundary="other", protocol="push",
                                       poll_interval_seconds=30)
    cdu = FacilityMeter.objects.create(site=site, rack=rack, name="CDU", kind="cooling_unit", boundary="cooling",
                                       protocol="push", poll_interval_seconds=30)
    t, it = now - datetime.timedelta(minutes=15), 1e7
    while t <= now:
        store_meter_readings(pdu, t, [Reading("energy_joules", it), Reading("power_watts", 1500.0),
                                      Reading("current_amperes", 6.5)])
        store_meter_readings(feed, t, [Reading("energy_joules", it * 1.4), Reading("power_watts", 2100.0)])
        store_meter_readings(ups, t, [Reading("energy_joules", it * 0.05)])  # its losses: an "other" boundary
        store_meter_readings(cdu, t, [Reading("energy_joules", it * 0.2)])
        t, it = t + datetime.timedelta(seconds=30), it + 1500.0 * 30
    store_meter_readings(ups, now, [Reading("battery_runtime_seconds", 1800.0, "output"),
                                    Reading("on_battery", 0.0, "output"),
                                    Reading("battery_charge_ratio", 1.0, "output"),
                                    Reading("load_ratio", 0.4, "output")])
    store_meter_readings(cdu, now, [Reading("temperature_celsius", 18.0, "secondary.1.supply"),
                                    Reading("flow_liters_per_minute", 40.0, "secondary.1"),
                                    Reading("leak_detected", 0.0, "leak.1")])
    for meter in (feed, pdu, ups, cdu):
        MeterState.objects.create(meter=meter, last_success=now, last_attempt=now)
    seed_ledger(nodes[0], nodes[1], now, minutes=5, hours=3)
    firing("leak_detected", severity="critical", meter="CDU-1", site=site)


def substitute(expr: str, site_slug: str) -> str:
    return (expr.replace("$site", site_slug).replace("$__rate_interval", "1m").replace("$__range", "1h")
            .replace("$__interval", "15s"))


@pytest.mark.integration
def test_every_panel_query_returns_data_from_a_real_prometheus(live_appliance, site, rack, tmp_path):
    seed(site, rack, live_appliance)
    dashboard = load()
    with PrometheusServer(tmp_path, [f"127.0.0.1:{live_appliance.port}"], rule_files=(str(RULES),)) as prometheus:
        def scraped():
            try:
                answer = prometheus.query('up{job="microdc"}')
            except (RuntimeError, httpx.HTTPError):
                return False
            return bool(answer["data"]["result"]) and answer["data"]["result"][0]["value"][1] == "1"

        assert wait_for(scraped, timeout=60, every=0.5), "Prometheus never scraped the appliance"
        empty: dict[str, str] = {}

        def all_answer() -> bool:
            empty.clear()
            for panel, target in targets(dashboard):
                answer = prometheus.query(substitute(target["expr"], site.slug))
                assert answer["status"] == "success", (panel["title"], target["expr"], answer)
                if not answer["data"]["result"]:
                    empty[f"{panel['title']} [{target['refId']}]"] = target["expr"]
            return not empty

        assert wait_for(all_answer, timeout=30, every=1), f"panels without data: {empty}"
        # The shipped rules load and evaluate without error against the appliance's real series.
        groups = httpx.get(f"{prometheus.url}/api/v1/rules").json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) == 20 and all(rule["health"] in ("ok", "unknown") for rule in rules), \
            [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    # Every metric the rules use is one the appliance exports.
    exported = set(re.findall(r"^# TYPE (\w+)", httpx.get(f"{live_appliance.url}/metrics").text, re.M))
    used = set(re.findall(r"\b(microdc_[a-z_]+)", RULES.read_text()))
    counters = {name + "_total" for name in exported}
    assert used <= exported | counters, f"rules name series /metrics lacks: {sorted(used - exported - counters)}"

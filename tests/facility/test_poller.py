"""The poller against real protocol peers on loopback (the simulated facility), with a dead meter beside them."""

import socket
import time

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from microdc.facility.health import meter_status
from microdc.facility.models import MeterState
from microdc.facility.poller import Poller, poll_meter
from microdc.nodes.models import FacilityMeter, Rack
from microdc.simulator.facility import start_simulated_facility
from microdc.telemetry.models import Source


@pytest.fixture(scope="module")
def facility():
    with start_simulated_facility(lambda t: 8000.0) as running:
        yield running


def make_meters(site, facility):
    meters = []
    for endpoint in facility.endpoints:
        rack = Rack.objects.get_or_create(site=site, name=endpoint.rack)[0] if endpoint.rack else None
        meters.append(FacilityMeter.objects.create(
            site=site, rack=rack, name=endpoint.name, kind=endpoint.kind, boundary=endpoint.boundary,
            it_measurement_point=endpoint.it_measurement_point, boundary_channel=endpoint.channel,
            protocol=endpoint.protocol, host=endpoint.host, port=endpoint.port, settings=endpoint.settings,
            secret=endpoint.secret, poll_interval_seconds=5, timeout_seconds=3, simulated=True))
    return meters


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_every_protocol_is_polled_and_stored(site, facility):
    meters = make_meters(site, facility)
    for meter in meters:
        outcome = poll_meter(meter)
        assert outcome.ok, (meter.name, outcome.error)
        assert outcome.readings > 0
    feed = FacilityMeter.objects.get(name="Utility feed")
    total = Source.objects.get(meter=feed, sensor="")
    assert total.last_values["power_watts"] > 8000  # IT load plus losses and cooling
    assert total.last_values["energy_joules"] > 0
    pdu = Source.objects.get(meter__name="PDU A01", sensor="outlets")
    assert pdu.last_values["power_watts"] == pytest.approx(4000, rel=0.05)  # half of the 8 kW IT load
    ups = Source.objects.get(meter__name="UPS", sensor="output")
    assert ups.last_values["power_watts"] > 0
    assert all(meter_status(m)["healthy"] for m in FacilityMeter.objects.select_related("state"))


@pytest.mark.django_db(transaction=True)
def test_dead_meter_is_unhealthy_with_reason_and_backs_off_while_others_work(site, facility):
    make_meters(site, facility)
    dead = FacilityMeter.objects.create(site=site, name="Old PDU", kind="pdu", boundary="other", protocol="modbus",
                                        host="127.0.0.1", port=dead_port(), poll_interval_seconds=5,
                                        timeout_seconds=1, settings={"mode": "sunspec"})
    poller = Poller(max_workers=8)
    try:
        started = time.monotonic()
        assert poller.tick() == 6
        while poller.in_flight and time.monotonic() - started < 20:
            time.sleep(0.1)
            poller.collect()
    finally:
        poller.shutdown()
    state = MeterState.objects.get(meter=dead)
    assert state.consecutive_failures == 1
    assert "127.0.0.1" in state.last_error and "refused" in state.last_error.lower()
    assert (state.next_poll - timezone.now()).total_seconds() > 3
    status = meter_status(FacilityMeter.objects.select_related("state").get(pk=dead.pk))
    assert not status["healthy"] and status["last_error"] == state.last_error
    healthy = [m.name for m in FacilityMeter.objects.select_related("state") if meter_status(m)["healthy"]]
    assert sorted(healthy) == sorted(e.name for e in facility.endpoints)
    # A second failure doubles the wait.
    poll_meter(dead)
    state.refresh_from_db()
    assert state.consecutive_failures == 2
    assert (state.next_poll - timezone.now()).total_seconds() > 8


@pytest.mark.django_db(transaction=True)
def test_facility_metrics_and_api(site, facility, client_for, client):
    for meter in make_meters(site, facility):
        poll_meter(meter)
    text = client.get("/metrics").content.decode()
    samples = {(s.name, s.labels.get("meter")): s for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("microdc_facility_power_watts", "Utility feed")].labels["boundary"] == "facility_input"
    assert samples[("microdc_facility_power_watts", "PDU A01")].labels["simulated"] == "true"
    assert samples[("microdc_meter_up", "UPS")].value == 1.0
    viewer = client_for("viewer")
    meter = FacilityMeter.objects.get(name="Cooling unit")
    body = viewer.get(f"/api/v1/meters/{meter.pk}/readings/").json()
    assert body["health"]["healthy"] is True
    channels = {c["channel"] for c in body["channels"]}
    assert "" in channels and any(c.startswith("pump.") for c in channels)
    listed = viewer.get("/api/v1/meters/").json()["results"]
    assert all("password" not in str(m) and m["health"]["healthy"] for m in listed)
    pue = viewer.get("/api/v1/pue/", {"window": ["5m", "1h"]}).json()
    assert [r["window"] for r in pue["results"]] == ["5m", "1h"]
    assert pue["results"][0]["complete"] is False  # seconds of data cannot cover five minutes
    assert "covers" in pue["results"][0]["reason"]
    assert viewer.get("/api/v1/pue/", {"window": "7m"}).status_code == 400
    cooling = viewer.get("/api/v1/cooling/").json()
    unit = next(u for u in cooling["cooling_units"] if u["name"] == "Cooling unit")
    supply = [c for c in unit["channels"] if c["channel"].endswith(".supply")]
    assert supply and "temperature_celsius" in supply[0]["values"]
    assert any("flow_liters_per_minute" in c["values"] for c in unit["channels"])
    assert cooling["racks"]["A01"]["power_watts"] == pytest.approx(4000, rel=0.05)
    assert viewer.post(f"/api/v1/meters/{meter.pk}/poll/").status_code == 403
    outcome = client_for("admin").post(f"/api/v1/meters/{meter.pk}/poll/").json()
    assert outcome["ok"] is True


@pytest.mark.django_db
def test_push_meter(site, client_for):
    meter = FacilityMeter.objects.create(site=site, name="Chiller", kind="chiller", boundary="cooling",
                                         protocol="push")
    admin = client_for("admin")
    url = f"/api/v1/meters/{meter.pk}/readings/"
    response = admin.post(url, {"readings": [{"quantity": "power_watts", "value": 2200.5},
                                             {"quantity": "temperature_celsius", "value": 7.0,
                                              "channel": "supply"}]}, format="json")
    assert response.status_code == 202, response.json()
    assert Source.objects.get(meter=meter, sensor="").last_values == {"power_watts": 2200.5}
    bad = admin.post(url, {"readings": [{"quantity": "vibes", "value": 1}]}, format="json")
    assert bad.status_code == 400 and "quantity" in str(bad.json())
    assert client_for("operator").post(url, {"readings": [{"quantity": "power_watts", "value": 1}]},
                                       format="json").status_code == 403
    assert meter_status(FacilityMeter.objects.select_related("state").get(pk=meter.pk))["healthy"]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 10**400, 1e300])
def test_a_polled_value_the_store_must_not_hold_is_left_out_with_its_reason(site, bad):
    from microdc.facility.readings import store_meter_readings
    from microdc.facility.sources.base import Reading as MeterReading
    from microdc.nodes.models import FacilityMeter
    from microdc.telemetry.models import Source

    meter = FacilityMeter.objects.create(site=site, name="ups-1", kind="ups", boundary="it_load", protocol="push")
    now = timezone.now()
    stored = store_meter_readings(meter, now, [MeterReading("power_watts", bad, channel="output"),
                                               MeterReading("energy_joules", 3.6e6, channel="output")])
    assert stored == 1
    source = Source.objects.get(meter=meter, sensor="output")
    assert source.last_values == {"energy_joules": 3.6e6}
    assert source.last_attributes["states"] == {"power_watts": "warning"}
    assert "not a finite number" in source.last_attributes["reasons"]["power_watts"]

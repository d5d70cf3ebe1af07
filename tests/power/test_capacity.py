"""Capacities and headroom: each limit of the room with its derated limit, measured load, and the worst case of
every accelerator behind it at its enforced limit plus measured node overhead."""

import pytest
from django.utils import timezone

from microdc.core.roles import Role
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from microdc.telemetry.models import Source


def gpu(node, index, power, limit):
    accelerator = Accelerator.objects.create(node=node, index=index, vendor="nvidia", model="H100",
                                             uuid=f"GPU-{node.pk}-{index}", power_limit_watts=700.0)
    Source.objects.create(key=f"node/{node.pk}/gpu/{index}", node=node, accelerator=accelerator,
                          last_ts=timezone.now(), last_values={"power_watts": power, "power_limit_watts": limit})
    return accelerator


def read(meter, **channels):
    store_meter_readings(meter, timezone.now(), [Reading(q, v, ch) for ch, values in channels.items()
                                                  for q, v in values.items()])


@pytest.fixture
def room(site, rack):
    pdu = FacilityMeter.objects.create(site=site, rack=rack, name="PDU-A", kind="pdu", boundary="other",
                                       protocol="push", breaker_ratings_amperes={"branch.1": 32.0},
                                       rated_voltage_volts=230.0)
    ups = FacilityMeter.objects.create(site=site, name="UPS", kind="ups", boundary="it_load",
                                       it_measurement_point="ups_output", protocol="push", rated_power_watts=10000.0)
    cdu = FacilityMeter.objects.create(site=site, rack=rack, name="CDU", kind="cooling_unit", boundary="cooling",
                                       protocol="push", rated_heat_removal_watts=8000.0)
    node = Node.objects.create(hostname="gpu-01", management_address="10.0.0.1", rack=rack, position_u=10,
                               power_meter=pdu, power_meter_channel="outlet.3")
    gpus = [gpu(node, 0, 400.0, 700.0), gpu(node, 1, 300.0, 500.0)]
    read(pdu, **{"branch.1": {"current_amperes": 20.0}, "outlet.3": {"power_watts": 950.0}})
    read(ups, output={"power_watts": 6000.0})
    read(cdu, **{"primary.1": {"heat_removed_watts": 2500.0}, "primary.2": {"heat_removed_watts": 1000.0}})
    site.contracted_power_watts = 20000.0
    site.save()
    return {"pdu": pdu, "ups": ups, "cdu": cdu, "node": node, "gpus": gpus}


@pytest.mark.django_db
def test_each_limit_with_measured_load_headroom_and_worst_case(client_for, room, site):
    response = client_for(Role.VIEWER).get(f"/api/v1/capacities/?site={site.slug}")
    assert response.status_code == 200
    by_kind = {c["kind"]: c for c in response.json()}
    breaker = by_kind["breaker"]
    # 32 A derated to 80% for continuous load; 20 A measured.
    assert (breaker["rated"], breaker["measured"]) == (32, 20)
    assert breaker["limit"] == pytest.approx(25.6) and breaker["headroom"] == pytest.approx(5.6)
    # Worst case: both GPUs at their enforced limits (700 + 500 W) plus the node's measured overhead
    # (950 W at its outlet - 700 W drawn by its GPUs = 250 W), over 230 V.
    assert breaker["worst_case"] == pytest.approx((700 + 500 + 250) / 230.0)
    assert breaker["nodes"] == [room["node"].pk] and len(breaker["accelerators"]) == 2
    ups = by_kind["ups"]
    assert (ups["limit"], ups["measured"], ups["headroom"], ups["worst_case"]) == (10000, 6000, 4000, 1450)
    cooling = by_kind["cooling"]
    assert (cooling["measured"], cooling["headroom"]) == (3500, 4500)
    feed = by_kind["site_feed"]
    assert feed["measured"] is None and "no facility-input meter" in feed["notes"][0]


@pytest.mark.django_db
def test_an_unknown_site_is_a_400_naming_it(client_for, room):
    response = client_for(Role.VIEWER).get("/api/v1/capacities/?site=nowhere")
    assert response.status_code == 400 and "nowhere" in response.json()["site"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [("rated_power_watts", 0), ("rated_voltage_volts", -230),
                                              ("rated_heat_removal_watts", 0),
                                              ("breaker_ratings_amperes", {"branch.1": 0})])
def test_a_capacity_of_zero_or_negative_is_a_400_naming_the_field(admin_api, room, field, value):
    response = admin_api.patch(f"/api/v1/meters/{room['pdu'].pk}/", {field: value}, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()


@pytest.mark.django_db
def test_a_site_feed_limit_of_zero_is_refused(admin_api, site):
    response = admin_api.patch(f"/api/v1/sites/{site.pk}/", {"contracted_power_watts": 0}, format="json")
    assert response.status_code == 400 and "contracted_power_watts" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "body", "field"), [
    ("water", {"rated_power_watts": 5000}, "rated_power_watts"),
    ("water", {"breaker_ratings_amperes": {"": 16}}, "breaker_ratings_amperes"),
    ("pdu", {"rated_heat_removal_watts": 5000}, "rated_heat_removal_watts"),
    ("generation", {"rated_power_watts": 5000}, "rated_power_watts"),
])
def test_a_budget_on_a_meter_that_measures_no_power_is_a_400_naming_the_field(admin_api, site, kind, body, field):
    meter = FacilityMeter.objects.create(site=site, name=f"{kind} meter", kind=kind, boundary="other",
                                         protocol="push")
    response = admin_api.patch(f"/api/v1/meters/{meter.pk}/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()

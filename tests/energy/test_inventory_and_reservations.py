"""The inventory fields the ledger and the report read, and reservations following deployments."""

import datetime

import pytest

from microdc.energy.models import Reservation
from microdc.energy.reservations import sync_reservations
from microdc.nodes.models import FacilityMeter, Site
from microdc.provisioning.models import Deployment
from microdc.telemetry.models import Source
from microdc.telemetry.rollups import mark_derived_dirty
from tests.energy.rig import T0, Rig

pytestmark = pytest.mark.django_db


def test_embodied_carbon_and_power_meter_validated(admin_api):
    rig = Rig()
    node = rig.node("gpu-v", gpus=1)
    url = f"/api/v1/nodes/{node.pk}/"
    answer = admin_api.patch(url, {"expected_life_years": 0}, format="json")
    assert answer.status_code == 400 and "expected_life_years" in answer.json()
    answer = admin_api.patch(url, {"embodied_kgco2e": -1}, format="json")
    assert answer.status_code == 400 and "embodied_kgco2e" in answer.json()
    other = Site.objects.create(name="Elsewhere", slug="elsewhere")
    foreign = FacilityMeter.objects.create(site=other, name="PDU far", kind="pdu", boundary="other", protocol="push")
    answer = admin_api.patch(url, {"power_meter": foreign.pk, "power_meter_channel": "outlet.1"}, format="json")
    assert answer.status_code == 400 and "another site" in str(answer.json()["power_meter"])
    pdu = rig.meter("PDU", FacilityMeter.Kind.PDU, FacilityMeter.Boundary.OTHER)
    answer = admin_api.patch(url, {"power_meter": pdu.pk}, format="json")
    assert answer.status_code == 400 and "power_meter_channel" in answer.json()
    answer = admin_api.patch(url, {"power_meter": pdu.pk, "power_meter_channel": "outlet.1", "embodied_kgco2e": 1200,
                                   "expected_life_years": 5}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["power_meter"] == pdu.pk and answer.json()["embodied_kgco2e"] == 1200
    gpu = node.accelerators.get()
    answer = admin_api.patch(f"/api/v1/accelerators/{gpu.pk}/", {"embodied_kgco2e": 150, "expected_life_years": 4},
                             format="json")
    assert answer.status_code == 200 and answer.json()["expected_life_years"] == 4


def test_reservations_follow_healthy_deployments():
    rig = Rig()
    gpu_node, cpu_node = rig.node("gpu-h", gpus=2), rig.node("cpu-h")
    chat = rig.deployment("chat", [gpu_node], [1])
    iris = rig.deployment("iris", [cpu_node], [], runtime="mlserver")
    held = {(r.deployment_id, r.node_id, r.accelerator_id) for r in Reservation.objects.filter(end__isnull=True)}
    assert held == {(chat.pk, gpu_node.pk, gpu_node.accelerators.get(index=1).pk), (iris.pk, cpu_node.pk, None)}
    assert sync_reservations(now=T0 + datetime.timedelta(minutes=5)) == 0  # nothing changed

    later = T0 + datetime.timedelta(minutes=30, seconds=12)
    Deployment.objects.filter(pk=chat.pk).update(status=Deployment.Status.REMOVED)
    assert sync_reservations(now=later) == 1
    closed = Reservation.objects.get(deployment=chat)
    assert closed.start == T0 and closed.end == later
    assert Reservation.objects.get(deployment=iris).end is None


def test_derived_mark_only_moves_earlier():
    rig = Rig()
    node = rig.node("gpu-m", gpus=1)
    rig.push_node(node, T0, T0 + datetime.timedelta(minutes=3), gpus={0: lambda t: 100.0})
    rig.settle(T0 + datetime.timedelta(minutes=5))
    source = Source.objects.get(accelerator__node=node)
    assert source.derived_dirty_since is None  # the ledger took it
    sources = Source.objects.filter(pk=source.pk)
    mark_derived_dirty(sources, T0 + datetime.timedelta(minutes=2))
    mark_derived_dirty(sources, T0 + datetime.timedelta(minutes=9))
    assert sources.get().derived_dirty_since == T0 + datetime.timedelta(minutes=2)
    mark_derived_dirty(sources, T0)
    assert sources.get().derived_dirty_since == T0

"""DELETE retires what has telemetry history (it keeps it); ?purge=true deletes it with the history, audited."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from microdc.core.models import AuditEvent
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import Sample, Source
from tests.telemetry.factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-0000000000aa"

pytestmark = pytest.mark.django_db


@pytest.fixture
def node_with_history(node):
    ingest_batch(node, batch(node.hostname, [sample(timezone.now() - datetime.timedelta(seconds=5),
                                                    [gpu(0, UUID0, power_watts=321.0)])]))
    assert Source.objects.filter(node=node).exists()
    return node


@pytest.fixture
def meter(site):
    return FacilityMeter.objects.create(site=site, name="UPS 1", kind="ups", boundary="facility_input",
                                        protocol="push")


def test_deleting_a_node_with_history_retires_it_and_keeps_the_history(admin_api, node_with_history, client):
    node = node_with_history
    sources, samples = Source.objects.filter(node=node).count(), Sample.objects.count()

    assert admin_api.delete(f"/api/v1/nodes/{node.pk}/").status_code == 204

    node.refresh_from_db()
    assert node.retired_at is not None
    assert Accelerator.objects.get(uuid=UUID0).retired_at == node.retired_at
    assert Source.objects.filter(node=node).count() == sources and Sample.objects.count() == samples
    event = AuditEvent.objects.filter(object_type="nodes.node", object_id=str(node.pk)).latest("timestamp")
    assert event.action == "update" and event.changes["retired_at"]["old"] is None
    # It leaves the live lists (and so the dynamic inventory), but its own record stays readable.
    assert [n["hostname"] for n in admin_api.get("/api/v1/nodes/").json()["results"]] == []
    retired = admin_api.get("/api/v1/nodes/?retired=true").json()["results"]
    assert [n["hostname"] for n in retired] == [node.hostname] and retired[0]["retired_at"]
    assert admin_api.get(f"/api/v1/nodes/{node.pk}/").status_code == 200
    assert admin_api.get("/api/v1/accelerators/").json()["results"] == []
    # /metrics no longer shows it.
    text = client.get("/metrics").content.decode()
    assert node.hostname not in text


def test_a_retired_node_cannot_push_telemetry(admin_api, node):
    key = issue_agent_token(node)
    agent = APIClient()
    agent.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    assert agent.post("/api/v1/telemetry/", body, format="json").status_code in (200, 202)

    assert admin_api.delete(f"/api/v1/nodes/{node.pk}/").status_code == 204
    assert Node.objects.get(pk=node.pk).retired_at is not None

    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    response = agent.post("/api/v1/telemetry/", body, format="json")
    assert response.status_code == 401 and "retired" in response.json()["detail"]


def test_a_retired_node_frees_its_rack_units(admin_api, node_with_history, rack):
    assert admin_api.delete(f"/api/v1/nodes/{node_with_history.pk}/").status_code == 204
    body = {"hostname": "gpu-02", "management_address": "10.0.0.12", "rack": rack.pk, "position_u": 1,
            "height_u": 2}
    assert admin_api.post("/api/v1/nodes/", body, format="json").status_code == 201


def test_purge_deletes_the_history_and_is_audited_as_such(admin_api, node_with_history):
    node = node_with_history
    response = admin_api.delete(f"/api/v1/nodes/{node.pk}/?purge=true")
    assert response.status_code == 204
    assert not Node.objects.filter(pk=node.pk).exists() and not Source.objects.filter(key__contains=UUID0).exists()
    event = AuditEvent.objects.get(object_type="nodes.node", object_id=str(node.pk), action="delete")
    assert event.changes["purged_history"]["old"].endswith("telemetry sources")


def test_something_without_history_is_simply_deleted(admin_api, node):
    assert admin_api.delete(f"/api/v1/nodes/{node.pk}/").status_code == 204
    assert not Node.objects.filter(pk=node.pk).exists()
    assert "purged_history" not in AuditEvent.objects.get(object_type="nodes.node", action="delete").changes


@pytest.mark.parametrize("param", ["retired=maybe", "purge=yes-please"])
def test_bad_flags_are_a_400_naming_them(admin_api, node_with_history, param):
    name = param.split("=")[0]
    method = admin_api.get if name == "retired" else admin_api.delete
    path = "/api/v1/nodes/" if name == "retired" else f"/api/v1/nodes/{node_with_history.pk}/"
    response = method(f"{path}?{param}")
    assert response.status_code == 400 and name in response.json()
    assert Node.objects.get(pk=node_with_history.pk).retired_at is None


def test_a_retired_meter_is_neither_polled_nor_takes_readings(admin_api, meter):
    body = {"readings": [{"quantity": "power_watts", "value": 1200.0}]}
    assert admin_api.post(f"/api/v1/meters/{meter.pk}/readings/", body, format="json").status_code == 202

    assert admin_api.delete(f"/api/v1/meters/{meter.pk}/").status_code == 204
    meter.refresh_from_db()
    assert meter.retired_at is not None and Source.objects.filter(meter=meter).exists()
    response = admin_api.post(f"/api/v1/meters/{meter.pk}/readings/", body, format="json")
    assert response.status_code == 409 and "retired" in response.json()["detail"]
    assert admin_api.get("/api/v1/meters/").json()["results"] == []
    assert admin_api.get(f"/api/v1/meters/{meter.pk}/readings/").json()["channels"]

    from django.utils import timezone

    from microdc.facility.poll_leases import claim_due

    meter.protocol = "snmp"
    meter.host = "127.0.0.1"
    meter.save()
    assert meter not in claim_due(timezone.now())[1]


def test_a_retired_accelerator_frees_its_index_for_the_replacement(admin_api, node_with_history):
    old = Accelerator.objects.get(uuid=UUID0)
    assert admin_api.delete(f"/api/v1/accelerators/{old.pk}/").status_code == 204
    body = {"node": node_with_history.pk, "kind": "gpu", "vendor": "nvidia", "model": "H100", "index": old.index}
    assert admin_api.post("/api/v1/accelerators/", body, format="json").status_code == 201
    assert admin_api.post("/api/v1/accelerators/", body, format="json").status_code == 400


def test_retired_nodes_and_meters_leave_the_dashboard(admin_api, node_with_history, meter, site):
    from microdc.dashboard.selectors import load_site

    before = load_site(site)
    assert [n.hostname for n in before.nodes] == [node_with_history.hostname] and before.meters == [meter]
    admin_api.delete(f"/api/v1/nodes/{node_with_history.pk}/")
    FacilityMeter.objects.filter(pk=meter.pk).update(retired_at=timezone.now())

    after = load_site(site)
    assert after.nodes == [] and after.meters == []

"""Placement by headroom: free accelerators on a node whose every limit can take them at their power limit,
chosen by the site's preferences, recorded on the revision; a request that cannot be placed names the limit."""

import hashlib

import pytest
from django.utils import timezone

from microdc.core.roles import Role
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from microdc.power.placement import PlacementError, place
from microdc.provisioning.models import Deployment, DeploymentRevision
from microdc.telemetry.models import Source


@pytest.fixture(autouse=True)
def no_jobs_run(settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.MICRODC_ARTIFACT_ROOTS = [str(tmp_path / "artifacts")]
    settings.DATA_DIR = tmp_path / "data"


class Site2:
    """Two nodes of four idle GPUs (100 W drawn, 700 W limit), each behind its own PDU breaker at 230 V."""

    def __init__(self, site, rack):
        self.nodes, self.pdus = [], []
        for i, amperes in ((1, 12.0), (2, 4.0)):
            pdu = FacilityMeter.objects.create(site=site, rack=rack, name=f"PDU-{i}", kind="pdu", boundary="other",
                                               protocol="push", breaker_ratings_amperes={"": 32.0},
                                               rated_voltage_volts=230.0)
            node = Node.objects.create(hostname=f"gpu-{i}", management_address=f"10.0.0.{i}", rack=rack,
                                       position_u=4 * i, power_meter=pdu, power_meter_channel="outlet.1")
            for index in range(4):
                accelerator = Accelerator.objects.create(node=node, index=index, vendor="nvidia", model="H100",
                                                         uuid=f"GPU-{i}-{index}", power_limit_watts=700.0)
                Source.objects.create(key=f"gpu/{accelerator.pk}", node=node, accelerator=accelerator,
                                      last_ts=timezone.now(), last_values={"power_watts": 100.0,
                                                                           "power_limit_watts": 700.0})
            self.load(pdu, amperes)
            self.nodes.append(node)
            self.pdus.append(pdu)

    @staticmethod
    def load(pdu, amperes):
        store_meter_readings(pdu, timezone.now(), [Reading("current_amperes", amperes, ""),
                                                   Reading("power_watts", amperes * 230.0, "outlet.1")])


@pytest.fixture
def two(site, rack):
    return Site2(site, rack)


@pytest.mark.django_db
def test_the_least_loaded_circuit_is_chosen_and_the_reasons_kept(two):
    chosen = place(2)
    assert chosen["node"] == two.nodes[1] and chosen["accelerators"] == [0, 1]
    record = chosen["record"]
    assert record["preferences"] == ["circuit", "cool", "pack"]
    assert record["reasons"][0] == "adds up to 1200 W at the accelerators' limits"
    assert any("PDU-2 breaker" in r for r in record["reasons"])
    assert {c["node"] for c in record["candidates"]} == {"gpu-1", "gpu-2"}


@pytest.mark.django_db
def test_packing_first_fills_the_busier_node(two, settings):
    settings.MICRODC_PLACEMENT_PREFERENCES = "pack,circuit"
    busy = Deployment.objects.create(name="other", runtime="vllm")
    revision = DeploymentRevision.objects.create(deployment=busy, number=1, artifact="/a", artifact_sha256="0" * 64,
                                                 port=9000, accelerators=[0])
    revision.nodes.set([two.nodes[0]])
    busy.current_revision = revision
    busy.save()
    chosen = place(2)
    assert chosen["node"] == two.nodes[0] and chosen["accelerators"] == [1, 2]  # accelerator 0 is taken


@pytest.mark.django_db
def test_a_request_no_node_can_take_names_the_limit(two):
    two.load(two.pdus[0], 24.0)  # 25.6 A continuous: 1.6 A left, 5.2 A needed for two GPUs at their limit
    two.load(two.pdus[1], 25.0)
    with pytest.raises(PlacementError) as refused:
        place(2)
    assert "gpu-1: PDU-1 breaker has 1.6 A of headroom, 5.2 A needed" in str(refused.value)
    with pytest.raises(PlacementError, match="gpu-2: 4 free gpu of 5 needed"):
        place(5)


@pytest.mark.django_db
def test_a_deployment_asks_for_accelerators_and_the_revision_records_the_choice(client_for, two, tmp_path):
    path = tmp_path / "artifacts" / "model.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    body = {"name": "chat", "runtime": "vllm",
            "revision": {"artifact": str(path), "artifact_sha256": hashlib.sha256(b"weights").hexdigest(),
                         "placement": {"count": 2, "kind": "gpu"}, "port": 18080}}
    response = client_for(Role.OPERATOR).post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 202, response.json()
    revision = DeploymentRevision.objects.get()
    assert [n.hostname for n in revision.nodes.all()] == ["gpu-2"] and revision.accelerators == [0, 1]
    assert revision.placement["node"] == "gpu-2"
    shown = response.json()["deployment"]["current_revision"] or client_for(Role.VIEWER).get(
        f"/api/v1/deployments/{revision.deployment_id}/revisions/").json()["results"][0]
    assert shown["placement"]["request"] == {"count": 2, "kind": "gpu"}


@pytest.mark.django_db
@pytest.mark.parametrize(("placement", "words"), [({"count": 0}, "count"), ("two", "object"),
                                                  ({"count": 99, "kind": "gpu"}, "count")])
def test_a_bad_placement_request_is_a_400_naming_it(client_for, two, placement, words):
    body = {"name": "chat", "runtime": "vllm", "revision": {"artifact": "/x", "artifact_sha256": "0" * 64,
                                                             "placement": placement, "port": 18080}}
    response = client_for(Role.OPERATOR).post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 400
    assert words in str(response.json()["revision"]["placement"]), response.json()


@pytest.mark.django_db
def test_a_placement_that_cannot_fit_is_a_400_naming_the_limit(client_for, two):
    two.load(two.pdus[0], 25.0)
    two.load(two.pdus[1], 25.0)
    body = {"name": "chat", "runtime": "vllm", "revision": {"artifact": "/x", "artifact_sha256": "0" * 64,
                                                             "placement": {"count": 2}, "port": 18080}}
    response = client_for(Role.OPERATOR).post("/api/v1/deployments/", body, format="json")
    assert response.status_code == 400
    assert "PDU-1 breaker has 0.6 A of headroom" in str(response.json()["revision"]["placement"])

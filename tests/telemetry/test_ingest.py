"""Ingest through the API: the good path, idempotency, and every kind of bad input refused whole."""

import datetime
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from microdc.core.models import AuditEvent
from microdc.nodes.models import Accelerator, Node
from microdc.telemetry.models import AgentState, ReceivedBatch, Sample, Source

from .factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
UUID1 = "GPU-11111111-1111-1111-1111-111111111111"


def push(client, body, **extra):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.generic("POST", "/api/v1/telemetry/", data, content_type="application/json", **extra)


def nothing_stored():
    return not Sample.objects.exists() and not ReceivedBatch.objects.exists() and not Source.objects.exists()


@pytest.mark.django_db
def test_batch_is_stored_and_new_accelerators_registered(agent, node):
    now = timezone.now()
    body = batch(node.hostname, [
        sample(now - datetime.timedelta(seconds=10), [gpu(0, UUID0, power_watts=250.0), gpu(1, UUID1)],
               [{"source": "rapl", "chip": "intel-rapl:0", "name": "package-0", "metrics": {"energy_joules": 5.0}}]),
        sample(now, [gpu(0, UUID0, power_watts=260.0), gpu(1, UUID1)]),
    ])
    response = push(agent, body)
    assert response.status_code == 202, response.json()
    assert response.json()["accepted"] == 2 and response.json()["duplicate"] is False
    assert set(response.json()["registered"]) == {UUID0, UUID1}
    # One row per collection instant, holding every device and sensor of it.
    rows = list(Sample.objects.order_by("ts").values_list("node", "values"))
    assert [(node_id, len(values)) for node_id, values in rows] == [(node.pk, 3), (node.pk, 2)]
    gpu0 = Accelerator.objects.get(uuid=UUID0)
    assert rows[1][1][str(Source.objects.get(accelerator=gpu0).pk)]["power_watts"] == 260.0
    assert (gpu0.node, gpu0.index, gpu0.model, gpu0.power_limit_watts) == (node, 0, "NVIDIA H100 80GB HBM3", 700.0)
    source = Source.objects.get(accelerator=gpu0)
    assert source.last_values["power_watts"] == 260.0
    assert AgentState.objects.get(node=node).samples_total == 2
    assert AuditEvent.objects.filter(source="system", action="create", object_type="nodes.accelerator").count() == 2


@pytest.mark.django_db
def test_resent_batch_is_acknowledged_not_stored_twice(agent, node):
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    assert push(agent, body).json()["duplicate"] is False
    again = push(agent, body)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert Sample.objects.count() == 1


@pytest.mark.django_db
def test_backfilled_sample_does_not_replace_latest(agent, node):
    now = timezone.now()
    push(agent, batch(node.hostname, [sample(now, [gpu(0, UUID0, power_watts=400.0)])]))
    push(agent, batch(node.hostname, [sample(now - datetime.timedelta(minutes=5), [gpu(0, UUID0, power_watts=1.0)])]))
    source = Source.objects.get()
    assert source.last_values["power_watts"] == 400.0
    assert source.dirty_since == now - datetime.timedelta(minutes=5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("batch_id"), "batch_id"),
        (lambda b: b.update(batch_id="not-a-uuid"), "batch_id"),
        (lambda b: b.update(samples="many"), "samples"),
        (lambda b: b["samples"][0].update(ts="yesterday"), "samples[0].ts"),
        (lambda b: b["samples"][0].update(ts="2026-01-01T00:00:00"), "samples[0].ts"),
        (lambda b: b["samples"][0]["devices"][0]["metrics"].update(power_watts="hot"),
         "samples[0].devices[0].metrics.power_watts"),
        (lambda b: b["samples"][0]["devices"][0]["metrics"].update(power_watts=True),
         "samples[0].devices[0].metrics.power_watts"),
        (lambda b: b["samples"][0]["devices"][0].update(index=-1), "samples[0].devices[0].index"),
        (lambda b: b["samples"][0]["devices"][0].update(kind="fpga"), "samples[0].devices[0].kind"),
        (lambda b: b["samples"][0]["devices"][0]["metrics"].update({"Bad Name": 1}), "samples[0].devices[0].metrics"),
        (lambda b: b.update(node="someone-else"), "node"),
    ],
)
def test_wrong_fields_are_named_and_nothing_is_stored(agent, node, mutate, field):
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    mutate(body)
    response = push(agent, body)
    assert response.status_code == 400
    assert response.json()["field"] == field, response.json()
    assert nothing_stored()
    assert AgentState.objects.get(node=node).rejected_total == 1


@pytest.mark.django_db
def test_one_bad_sample_rejects_the_whole_batch(agent, node):
    good = sample(timezone.now(), [gpu(0, UUID0)])
    bad = sample(timezone.now(), [gpu(0, UUID0, temperature_celsius=float("inf"))])
    response = push(agent, json.dumps(batch(node.hostname, [good, good, bad])).replace("Infinity", "1e999"))
    assert response.status_code == 400 and "samples[2]" in response.json()["field"]
    assert nothing_stored() and not Accelerator.objects.exists()


@pytest.mark.django_db
def test_timestamp_far_in_future(agent, node):
    future = timezone.now() + datetime.timedelta(hours=3)
    response = push(agent, batch(node.hostname, [sample(future, [gpu(0, UUID0)])]))
    assert response.status_code == 400
    assert "in the future" in response.json()["detail"] and "clock" in response.json()["detail"]
    assert nothing_stored()


@pytest.mark.django_db
def test_malformed_json(agent):
    response = push(agent, b'{"batch_id": "x", "samples": [')
    assert response.status_code == 400 and response.json()["detail"].startswith("Malformed JSON")
    assert nothing_stored()


@pytest.mark.django_db
def test_ten_megabyte_body_is_refused_unread(agent, node):
    response = push(agent, b"{" + b" " * (10 * 1024 * 1024) + b"}")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
    assert nothing_stored()


@pytest.mark.django_db
def test_unknown_or_missing_node_token(node):
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    anonymous = APIClient()
    assert push(anonymous, body).status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer mdcn_0123456789abcdef_forged")
    assert push(anonymous, body).status_code == 401
    assert nothing_stored()


@pytest.mark.django_db
def test_user_token_cannot_push(client_for, node):
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    response = push(client_for("admin"), body)
    assert response.status_code in (401, 403)
    assert nothing_stored()


@pytest.mark.django_db
def test_another_nodes_device_is_refused(agent, node, rack):
    other = Node.objects.create(hostname="gpu-other", management_address="10.0.0.50", rack=rack, position_u=30)
    Accelerator.objects.create(node=other, index=0, vendor="nvidia", model="H100", uuid=UUID1)
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0), gpu(1, UUID1)])])
    response = push(agent, body)
    assert response.status_code == 400
    assert response.json()["field"] == "samples[0].devices[1].uuid"
    assert "gpu-other" in response.json()["detail"]
    assert nothing_stored() and not Accelerator.objects.filter(uuid=UUID0).exists()


@pytest.mark.django_db
def test_decommissioned_node_token_stops_working(agent, node):
    node.status = Node.Status.DECOMMISSIONED
    node.save()
    assert push(agent, batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])).status_code == 401


@pytest.mark.django_db
def test_replaced_card_keeps_its_slot(agent, node):
    push(agent, batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])]))
    push(agent, batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID1)])]))
    slot = Accelerator.objects.get(node=node, index=0)
    assert slot.uuid == UUID1
    assert AuditEvent.objects.filter(action="update", object_type="nodes.accelerator").exists()


@pytest.mark.django_db
def test_the_agents_power_limit_outcome_is_kept_with_the_accelerator(agent, node):
    outcome = {"desired_watts": 400.0, "status": "not_permitted", "detail": "setting a power limit needs root"}
    device = {**gpu(0, UUID0, power_limit_watts=700.0, power_limit_min_watts=200.0), "power_limit": outcome}
    response = push(agent, batch(node.hostname, [sample(timezone.now(), [device])]))
    assert response.status_code == 202, response.json()
    source = Source.objects.get(accelerator__uuid=UUID0)
    assert source.last_attributes["power_limit"] == outcome
    assert source.last_values["power_limit_min_watts"] == 200.0


@pytest.mark.django_db
@pytest.mark.parametrize(("power_limit", "field"), [
    ({"desired_watts": 400.0, "status": "maybe"}, "power_limit.status"),
    ({"desired_watts": -1, "status": "applied"}, "power_limit.desired_watts"),
    ({"desired_watts": None, "status": "applied", "detail": 5}, "power_limit.detail"),
    ("applied", "power_limit"),
])
def test_a_malformed_power_limit_outcome_is_refused_naming_it(agent, node, power_limit, field):
    device = {**gpu(0, UUID0), "power_limit": power_limit}
    response = push(agent, batch(node.hostname, [sample(timezone.now(), [device])]))
    assert response.status_code == 400
    assert response.json()["field"].endswith(field), response.json()
    assert nothing_stored()

"""Operators cap accelerators through the API; the cap reaches the node's agent in the reply to its push, is
checked against the device's own constraints, and every change is recorded and audited."""

import datetime
import uuid

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from microdc.core.models import AuditEvent
from microdc.core.roles import Role
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Accelerator
from microdc.power.models import PowerLimit, PowerLimitChange
from microdc.telemetry.models import Source

UUID0 = "GPU-00000000-0000-0000-0000-00000000aaaa"
UUID1 = "GPU-11111111-1111-1111-1111-11111111bbbb"


def device(index: int, uuid: str, limit: float = 700.0, **extra) -> dict:
    return {"kind": "gpu", "index": index, "uuid": uuid, "name": "NVIDIA H100 80GB HBM3", "vendor": "nvidia",
            "metrics": {"power_watts": 300.0, "power_limit_watts": limit, "power_limit_min_watts": 200.0,
                        "power_limit_max_watts": 700.0, "power_limit_default_watts": 700.0}, **extra}


def push(node, devices) -> dict:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_agent_token(node)}")
    body = {"batch_id": str(uuid.uuid4()), "node": node.hostname, "agent_version": "test",
            "samples": [{"ts": (timezone.now() - datetime.timedelta(seconds=1)).isoformat(), "devices": devices,
                         "sensors": []}]}
    response = client.post("/api/v1/telemetry/", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()


@pytest.fixture
def gpus(node):
    push(node, [device(0, UUID0), device(1, UUID1)])
    return [Accelerator.objects.get(uuid=UUID0), Accelerator.objects.get(uuid=UUID1)]


@pytest.mark.django_db
def test_an_operator_caps_a_gpu_and_its_agent_is_told_in_the_push_reply(client_for, node, gpus):
    operator = client_for(Role.OPERATOR)
    response = operator.put(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/", {"watts": 400, "reason": "hot aisle"},
                            format="json")
    assert response.status_code == 200, response.json()
    view = response.json()[0]
    assert (view["desired_watts"], view["enforced_watts"], view["min_watts"], view["max_watts"]) == (400, 700, 200, 700)
    assert "next push" in view["differs_because"]
    # Only the capped device is named: the agent leaves the other alone.
    assert push(node, [device(0, UUID0), device(1, UUID1)])["power_limits"] == {UUID0: 400.0}
    # The agent applied it: desired and enforced agree.
    outcome = {"desired_watts": 400.0, "status": "applied", "detail": ""}
    push(node, [device(0, UUID0, limit=400.0, power_limit=outcome), device(1, UUID1)])
    view = operator.get(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/").json()[0]
    assert (view["enforced_watts"], view["agent_status"], view["differs_because"]) == (400, "applied", "")
    change = PowerLimitChange.objects.get()
    assert (change.before_watts, change.after_watts, change.reason, change.actor_name) == \
        (None, 400.0, "hot aisle", "operator-user")
    audit = AuditEvent.objects.get(object_type="power.powerlimit")
    assert audit.changes["desired_watts"] == {"old": None, "new": 400.0}


@pytest.mark.django_db
def test_delete_asks_for_the_default_and_the_agent_is_told_null(client_for, node, gpus):
    operator = client_for(Role.OPERATOR)
    operator.put(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/", {"watts": 300}, format="json")
    response = operator.delete(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/")
    assert response.status_code == 200 and response.json()[0]["desired_watts"] is None
    assert push(node, [device(0, UUID0, limit=300.0)])["power_limits"] == {UUID0: None}
    assert [(c.before_watts, c.after_watts) for c in PowerLimitChange.objects.order_by("at")] == \
        [(None, 300.0), (300.0, None)]


@pytest.mark.django_db
@pytest.mark.parametrize(("watts", "words"), [(150, "200-700 W"), (900, "200-700 W"), (-5, "above 0"),
                                              (0, "above 0")])
def test_a_cap_outside_the_device_constraints_is_a_400_naming_them(client_for, gpus, watts, words):
    response = client_for(Role.OPERATOR).put(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/", {"watts": watts},
                                             format="json")
    assert response.status_code == 400
    assert words in response.json()["watts"][0]
    assert not PowerLimit.objects.exists() and not PowerLimitChange.objects.exists()


@pytest.mark.django_db
def test_a_node_wide_cap_is_all_or_nothing(client_for, node, gpus):
    # One GPU allows down to 200 W, the other only to 350 W: a 300 W cap on the node is refused whole.
    Source.objects.filter(accelerator=gpus[1]).update(last_values={"power_limit_min_watts": 350.0,
                                                                   "power_limit_max_watts": 700.0})
    operator = client_for(Role.OPERATOR)
    response = operator.put(f"/api/v1/nodes/{node.pk}/power-limit/", {"watts": 300}, format="json")
    assert response.status_code == 400 and "350-700 W" in response.json()["watts"][0]
    assert not PowerLimit.objects.exists()
    response = operator.put(f"/api/v1/nodes/{node.pk}/power-limit/", {"watts": 500}, format="json")
    assert [v["desired_watts"] for v in response.json()] == [500, 500]
    assert push(node, [device(0, UUID0), device(1, UUID1)])["power_limits"] == {UUID0: 500.0, UUID1: 500.0}


@pytest.mark.django_db
def test_viewers_read_caps_and_only_operators_change_them(client_for, gpus):
    url = f"/api/v1/accelerators/{gpus[0].pk}/power-limit/"
    viewer = client_for(Role.VIEWER)
    assert viewer.get(url).status_code == 200
    assert viewer.put(url, {"watts": 400}, format="json").status_code == 403
    assert viewer.delete(url).status_code == 403
    assert client_for(None).get(url).status_code in (401, 403)
    assert client_for(Role.ADMIN).put(url, {"watts": 400}, format="json").status_code == 200
    assert viewer.get("/api/v1/power-limit-changes/").json()["count"] == 1


@pytest.mark.django_db
def test_a_policy_cap_and_an_operator_cap_the_lower_wins(client_for, node, gpus):
    PowerLimit.objects.create(accelerator=gpus[0], policy_watts=350.0, policy="budget")
    operator = client_for(Role.OPERATOR)
    view = operator.put(f"/api/v1/accelerators/{gpus[0].pk}/power-limit/", {"watts": 500}, format="json").json()[0]
    assert (view["desired_watts"], view["operator_watts"], view["policy_watts"]) == (350, 500, 350)
    assert push(node, [device(0, UUID0)])["power_limits"] == {UUID0: 350.0}

"""Power limits on the pages: desired against enforced on a node's page with why they differ, the room's limits
with headroom and the policies' timeline on the facility page, a rack's limits, a deployment's sweep."""

import pytest
from django.utils import timezone

from microdc.core.roles import Role
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from microdc.power.caps import set_operator_limit
from microdc.power.models import CapSweep, PolicyEvent
from microdc.provisioning.models import Deployment
from microdc.telemetry.models import Source


@pytest.fixture
def capped(site, rack, users):
    node = Node.objects.create(hostname="gpu-01", management_address="10.0.0.1", rack=rack, position_u=10)
    gpu = Accelerator.objects.create(node=node, index=0, vendor="nvidia", model="H100", uuid="GPU-0")
    Source.objects.create(key="gpu/0", node=node, accelerator=gpu, last_ts=timezone.now(),
                          last_values={"power_watts": 650.0, "power_limit_watts": 700.0, "power_limit_min_watts": 200.0,
                                       "power_limit_max_watts": 700.0, "power_limit_default_watts": 700.0},
                          last_attributes={"power_limit": {"desired_watts": 400.0, "status": "not_permitted",
                                                           "detail": "setting a power limit needs root"}})
    set_operator_limit([gpu], 400, actor=users[Role.OPERATOR], reason="hot aisle")
    return node


@pytest.mark.django_db
def test_the_node_page_shows_desired_enforced_and_why(client, users, capped):
    client.force_login(users[Role.VIEWER])
    html = client.get(f"/nodes/{capped.pk}/").content.decode()
    assert "Desired" in html and "400 W" in html
    assert "Limit not as desired: setting a power limit needs root" in html
    assert "hot aisle" in html and "operator-user" in html


@pytest.mark.django_db
def test_the_facility_page_shows_limits_headroom_and_the_policy_timeline(client, users, site, rack, capped):
    FacilityMeter.objects.create(site=site, rack=rack, name="PDU-A", kind="pdu", boundary="other", protocol="push",
                                 breaker_ratings_amperes={"": 16.0}, rated_voltage_volts=230.0)
    PolicyEvent.objects.create(policy="budget", key="meter/1//current", site=site, action="lowered",
                               summary="PDU-A breaker: 14.0 A of 12.8 A: over the limit, shedding 300 W",
                               changes=[{"accelerator": 1, "before": None, "after": 400.0}])
    client.force_login(users[Role.VIEWER])
    html = client.get(f"/facility/?site={site.slug}").content.decode()
    assert "Power limits and headroom" in html and "PDU-A breaker" in html and "12.8 A" in html
    assert "over the limit, shedding 300 W" in html
    racks = client.get(f"/racks/?site={site.slug}").content.decode()
    assert "PDU-A breaker" in racks


@pytest.mark.django_db
def test_the_deployment_page_shows_its_sweep(client, users):
    deployment = Deployment.objects.create(name="chat", runtime="vllm", status="healthy")
    CapSweep.objects.create(deployment=deployment, status="done", caps=[700, 600, 500], proposed_watts=600,
                            results=[{"cap_watts": c, "gpu_watts": c, "tokens_per_second": t, "joules_per_token": j}
                                     for c, t, j in ((700, 966, 0.72), (600, 890, 0.67), (500, 799, 0.63))])
    client.force_login(users[Role.VIEWER])
    html = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert "Energy-optimal power cap" in html and "<strong>600 W</strong>" in html
    assert '<polyline points="' in html and 'class="chosen"' in html

"""The energy-optimal cap: a sweep over a deployment's cap on a simulated rig driven step by step in time (the
agent takes the desired limit from the appliance, pushes its GPU's telemetry, the worker scrapes the model
server and advances the sweep), and the proposal it makes."""

import datetime
import uuid

import pytest
from django.utils import timezone

from microdc.agent.collectors.simulated import SimulatedCollector, speed_of
from microdc.agent.sample import iso_timestamp, new_batch
from microdc.core.roles import Role
from microdc.energy.models import ModelServer, Reservation
from microdc.energy.scrape import record_page
from microdc.nodes.models import Accelerator
from microdc.power.models import CapSweep, PowerLimit
from microdc.power.selectors import desired_for_node
from microdc.power.tuning import advance_sweeps, propose
from microdc.provisioning.models import Deployment
from microdc.simulator.inference_load import DeploymentLoad, LoadProfile
from microdc.simulator.model_server import SimulatedModelServer
from microdc.telemetry.ingest import ingest_batch

# Steady load (the sweep's premise): more requests than the server can take, the same tokens per request.
SATURATED = LoadProfile(peak_rps=8.0, night_share=1.0, burst_chance=0.0, quiet_chance=0.0, capacity_rps=4.0,
                        rate_noise=0.0, token_noise=0.0)


class Rig:
    def __init__(self, node, start: datetime.datetime):
        self.node, self.t = node, start
        self.sim = SimulatedCollector(gpus=1, seed=4, node=node.hostname, utilization=lambda i, t: 1.0)
        gpu = self.sim.gpus[0].uuid
        self.server = SimulatedModelServer(DeploymentLoad("sweep", profile=SATURATED), "simulated-sweep",
                                           clock=lambda: self.t.timestamp(), started=start.timestamp(),
                                           speed=lambda: speed_of(gpu))
        self.deployment = Deployment.objects.create(name="sweep", runtime="vllm", status=Deployment.Status.HEALTHY)
        self.push()
        self.accelerator = Accelerator.objects.get(uuid=gpu)
        Reservation.objects.create(deployment=self.deployment, node=node, accelerator=self.accelerator, start=start)
        self.model_server = ModelServer.objects.create(deployment=self.deployment, node=node, runtime="vllm")

    def push(self):
        """What the agent does each collection: apply the desired limits, collect, push."""
        now = self.t.timestamp()
        self.sim.apply_power_limits(desired_for_node(self.node.pk), now)
        sample = {"ts": iso_timestamp(now), "devices": self.sim.collect(now).devices, "sensors": []}
        ingest_batch(self.node, new_batch(self.node.hostname, [sample]) | {"batch_id": str(uuid.uuid4())})

    def tick(self, seconds: float = 10.0):
        self.t += datetime.timedelta(seconds=seconds)
        self.push()
        record_page(ModelServer.objects.get(pk=self.model_server.pk), self.server.page(), self.t)
        advance_sweeps(self.t)

    def close(self):
        self.server.httpd.server_close()


@pytest.fixture
def rig(node):
    rig = Rig(node, timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1))
    yield rig
    rig.close()


def run(rig, sweep_id: int, limit_seconds: float = 3000) -> CapSweep:
    for _ in range(int(limit_seconds / 10)):
        rig.tick()
        sweep = CapSweep.objects.get(pk=sweep_id)
        if sweep.status not in CapSweep.ACTIVE:
            return sweep
    raise AssertionError("the sweep never finished")


@pytest.mark.django_db
def test_the_sweep_proposes_the_lowest_joules_per_token_above_the_throughput_floor(rig, client_for):
    response = client_for(Role.OPERATOR).post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/",
                                              {"steps": 6, "step_seconds": 120, "warmup_seconds": 20}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["caps"] == [700.0, 600.0, 500.0, 400.0, 300.0, 200.0]
    sweep = run(rig, response.json()["id"])
    assert sweep.status == "done", sweep.error
    rates = [r["tokens_per_second"] for r in sweep.results]
    joules = [r["joules_per_token"] for r in sweep.results]
    assert rates == sorted(rates, reverse=True), sweep.results  # lower caps, fewer tokens/s
    best = min(range(6), key=joules.__getitem__)
    assert 0 < best < 5, f"J/token should be lowest between the device's limits: {sweep.results}"
    # The proposal: the lowest J/token among the caps that keep 90% of the uncapped rate.
    assert sweep.proposed_watts == propose(sweep.results, 0.9)
    kept = [r for r in sweep.results if r["tokens_per_second"] >= 0.9 * rates[0]]
    assert sweep.proposed_watts == min(kept, key=lambda r: r["joules_per_token"])["cap_watts"] < 700
    # Only proposed: the sweep's caps are released and no operator cap was set.
    assert PowerLimit.objects.get(accelerator=rig.accelerator).desired_watts is None
    shown = client_for(Role.VIEWER).get(f"/api/v1/cap-sweeps/{sweep.pk}/").json()
    assert shown["proposed_watts"] == sweep.proposed_watts and len(shown["results"]) == 6


@pytest.mark.django_db
def test_a_sweep_asked_to_apply_sets_the_cap_and_records_it(rig, client_for):
    operator = client_for(Role.OPERATOR)
    started = operator.post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/",
                            {"apply": True, "steps": 3, "step_seconds": 60, "warmup_seconds": 10}, format="json")
    assert started.status_code == 201, started.json()
    again = operator.post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/", {}, format="json")
    assert again.status_code == 400 and "already running" in again.json()["deployment"][0]
    sweep = run(rig, started.json()["id"])
    assert sweep.status == "done" and sweep.applied
    limit = PowerLimit.objects.get(accelerator=rig.accelerator)
    assert limit.operator_watts == sweep.proposed_watts and limit.policy_watts is None
    assert rig.accelerator.power_limit_changes.filter(reason__startswith="energy-optimal cap from sweep").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [({"throughput_floor": 1.5}, "throughput_floor"), ({"steps": 1}, "steps"),
                                             ({"step_seconds": 2}, "step_seconds")])
def test_bad_sweep_requests_are_400s_naming_the_field(rig, client_for, body, field):
    response = client_for(Role.OPERATOR).post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/", body,
                                              format="json")
    assert response.status_code == 400 and field in response.json()


@pytest.mark.django_db
def test_viewers_cannot_start_or_cancel_sweeps(rig, client_for):
    viewer = client_for(Role.VIEWER)
    assert viewer.post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/", {}, format="json").status_code == 403
    sweep = client_for(Role.OPERATOR).post(f"/api/v1/deployments/{rig.deployment.pk}/cap-sweep/", {},
                                           format="json").json()
    assert viewer.post(f"/api/v1/cap-sweeps/{sweep['id']}/cancel/").status_code == 403
    cancelled = client_for(Role.OPERATOR).post(f"/api/v1/cap-sweeps/{sweep['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

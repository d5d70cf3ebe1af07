"""The real agent (simulated GPUs, in-process) against the real appliance over HTTP: an operator's cap goes out
in the push reply, the simulated GPU enforces it, the enforced limit comes back in telemetry and /metrics."""

import threading

import pytest
from rest_framework.test import APIClient

from microdc.agent import Agent, AgentConfig
from microdc.core.roles import Role
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Accelerator, Node
from microdc.telemetry.models import Source
from tests.support import wait_for


def enforced(accelerator: Accelerator) -> float | None:
    source = Source.objects.filter(accelerator=accelerator).first()
    return source.last_values.get("power_limit_watts") if source else None


@pytest.mark.integration
def test_a_cap_is_enforced_by_the_agent_and_shows_in_metrics(live_appliance, rack, tmp_path, client_for):
    node = Node.objects.create(hostname="sim-capped", management_address="127.0.0.1", rack=rack, position_u=7,
                               simulated=True)
    config = AgentConfig(url=live_appliance.url, token=issue_agent_token(node), node=node.hostname,
                         collectors=("simulated",), sim_gpus=2, interval=0.1, spool_path=str(tmp_path / "spool.db"))
    stop = threading.Event()
    thread = threading.Thread(target=Agent(config).run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: Accelerator.objects.filter(node=node).count() == 2)
        gpu0, gpu1 = Accelerator.objects.filter(node=node).order_by("index")
        assert wait_for(lambda: enforced(gpu0) == 700.0)
        operator = client_for(Role.OPERATOR)
        response = operator.put(f"/api/v1/accelerators/{gpu0.pk}/power-limit/", {"watts": 320}, format="json")
        assert response.status_code == 200, response.json()
        assert wait_for(lambda: enforced(gpu0) == 320.0, timeout=10), "the agent never enforced the cap"
        view = operator.get(f"/api/v1/accelerators/{gpu0.pk}/power-limit/").json()[0]
        assert (view["agent_status"], view["differs_because"]) == ("applied", "")
        assert enforced(gpu1) == 700.0  # untouched
        # Out of the simulated device's range: refused by the API before it reaches the node.
        assert operator.put(f"/api/v1/accelerators/{gpu0.pk}/power-limit/", {"watts": 120},
                            format="json").status_code == 400
        metrics = APIClient().get("/metrics").content.decode()
        desired = [line for line in metrics.splitlines()
                   if line.startswith("microdc_gpu_power_limit_desired_watts{") and 'node="sim-capped"' in line]
        assert len(desired) == 1 and desired[0].endswith(" 320.0") and 'simulated="true"' in desired[0]
        assert any(line.startswith("microdc_gpu_power_limit_watts{") and 'node="sim-capped"' in line
                   and 'gpu="0"' in line and line.endswith(" 320.0") for line in metrics.splitlines())
        # Cleared: back to the device's default.
        operator.delete(f"/api/v1/accelerators/{gpu0.pk}/power-limit/")
        assert wait_for(lambda: enforced(gpu0) == 700.0, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=15)

"""The budget on a simulated rig: real agents (simulated GPUs at full load) push to the real appliance over
HTTP, a PDU whose readings follow the nodes' draw, and the policy round every half second. The breaker's load
starts above its continuous limit and must be back under it within 15 s, and stay there."""

import threading
import time

import pytest
from django.db import close_old_connections
from django.utils import timezone

from microdc.agent import Agent, AgentConfig
from microdc.agent.collectors.simulated import SimulatedCollector
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import FacilityMeter, Node
from microdc.power.enforce import enforce
from microdc.power.models import PolicyEvent
from microdc.simulator.demo_power import NODE_BASE_WATTS
from microdc.telemetry.models import Source

VOLTS = 230.0
LIMIT_AMPERES = 16.0 * 0.8
BACK_UNDER_SECONDS = 15.0


def pdu_reading(pdu, nodes) -> float:
    """What the PDU measures now: each node's GPUs (their latest telemetry) plus the rest of the server."""
    total, readings = 0.0, []
    for outlet, node in enumerate(nodes, start=1):
        gpus = sum(s.last_values.get("power_watts", 0.0)
                   for s in Source.objects.filter(node=node, accelerator__isnull=False))
        watts = gpus + NODE_BASE_WATTS
        total += watts
        readings.append(Reading("power_watts", watts, f"outlet.{outlet}"))
    readings.append(Reading("current_amperes", total / VOLTS, ""))
    store_meter_readings(pdu, timezone.now(), readings)
    return total / VOLTS


@pytest.mark.integration
def test_caps_bring_the_breaker_back_under_its_limit(live_appliance, site, rack, tmp_path, settings):
    settings.MICRODC_POWER_SETTLE_SECONDS = 1.5
    pdu = FacilityMeter.objects.create(site=site, rack=rack, name="PDU-rig", kind="pdu", boundary="other",
                                       protocol="push", breaker_ratings_amperes={"": 16.0}, rated_voltage_volts=VOLTS,
                                       poll_interval_seconds=1)
    nodes, stop, threads = [], threading.Event(), []
    for i in (1, 2):
        node = Node.objects.create(hostname=f"rig-{i}", management_address="127.0.0.1", rack=rack,
                                   position_u=10 + 5 * i, simulated=True, power_meter=pdu,
                                   power_meter_channel=f"outlet.{i}")
        nodes.append(node)
        config = AgentConfig(url=live_appliance.url, token=issue_agent_token(node), node=node.hostname,
                             interval=0.2, spool_path=str(tmp_path / f"spool-{i}.db"))
        collector = SimulatedCollector(gpus=2, seed=i, node=node.hostname, utilization=lambda index, t: 1.0)
        thread = threading.Thread(target=Agent(config, collectors=[collector]).run_forever, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        deadline = time.monotonic() + 20
        while Source.objects.filter(node__in=nodes, accelerator__isnull=False).count() < 4:
            assert time.monotonic() < deadline, "the simulated agents never reported"
            time.sleep(0.1)
        first = pdu_reading(pdu, nodes)
        assert first > LIMIT_AMPERES, f"the rig should start over its limit, measured {first:.1f} A"
        started, history = time.monotonic(), []
        while time.monotonic() - started < BACK_UNDER_SECONDS + 5:
            enforce()
            history.append((time.monotonic() - started, pdu_reading(pdu, nodes)))
            time.sleep(0.5)
        close_old_connections()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
    under = [t for t, amperes in history if amperes <= LIMIT_AMPERES]
    assert under and under[0] <= BACK_UNDER_SECONDS, f"still over the limit after {BACK_UNDER_SECONDS} s: {history}"
    after = [a for t, a in history if t >= under[0]]
    assert max(after) <= LIMIT_AMPERES * 1.01, f"went back over the limit: {history}"
    assert PolicyEvent.objects.filter(policy="budget", action="lowered").exists()
    print(f"rig: {first:.1f} A at start, under {LIMIT_AMPERES:.1f} A after {under[0]:.1f} s, then at most "
          f"{max(after):.1f} A")

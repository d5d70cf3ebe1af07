"""The real agent against the real appliance: the appliance goes away, the agent keeps collecting and
spooling, the appliance comes back on the same port, and every sample is stored exactly once, in order."""

import threading
import time

import pytest

from microdc.agent import Agent, AgentConfig
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Node
from microdc.telemetry.models import AgentState, ReceivedBatch, Sample
from tests.support import wait_for


@pytest.mark.integration
def test_outage_is_backfilled_exactly_once(live_appliance, rack, tmp_path):
    node = Node.objects.create(hostname="sim-backfill", management_address="127.0.0.1", rack=rack, position_u=5,
                               simulated=True)
    config = AgentConfig(url=live_appliance.url, token=issue_agent_token(node), node=node.hostname,
                         collectors=("simulated",), sim_gpus=2, interval=0.1, spool_path=str(tmp_path / "spool.db"),
                         backoff_initial=0.1, backoff_max=0.3)
    stop = threading.Event()
    agent = Agent(config)
    thread = threading.Thread(target=agent.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: Sample.objects.filter(node=node).count() >= 3)
        live_appliance.stop()
        time.sleep(1.5)  # ~15 collections spooled while the appliance is away
        stored_during_outage = Sample.objects.filter(node=node).count()
        live_appliance.start()
        assert wait_for(lambda: Sample.objects.filter(node=node).count() >= stored_during_outage + 12)
    finally:
        stop.set()
        thread.join(timeout=15)
    # The agent flushes its spool on the way out: after it stops, everything it collected is stored.
    assert wait_for(lambda: agent_spool_empty(config.spool_path), timeout=5)
    samples = list(Sample.objects.filter(node=node).order_by("id").values_list("ts", flat=True))
    assert len(samples) == len(set(samples)), "a sample was stored twice"
    assert samples == sorted(samples), "backfill must arrive in order"
    gaps = [(b - a).total_seconds() for a, b in zip(samples, samples[1:], strict=False)]
    assert max(gaps) < 1.0, f"a collection went missing during the outage: gap of {max(gaps):.2f} s"
    state = AgentState.objects.get(node=node)
    assert state.samples_total == len(samples) == ReceivedBatch.objects.filter(node=node).count()


def agent_spool_empty(path) -> bool:
    import sqlite3

    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return all(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0 for t in tables if "batch" in t)

"""Run the real node agent, with its simulated collector, for each simulated node of the demo site.

Each agent pushes over HTTP with its own node token, so the demo exercises the same path as a real rack.
Its simulated GPUs run the demo's model-server processes (their utilization follows each deployment's
load; a GPU no deployment holds idles), and their energy counters continue from what the store last
holds, so they never appear to reset.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from microdc.agent import Agent, AgentConfig
from microdc.agent.collectors.simulated import SimulatedCollector
from microdc.core import audit
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Node
from microdc.telemetry.models import Source

from .demo_deployments import processes_by_node
from .demo_site import SIM_SEED


@dataclass
class RunningAgent:
    node: str
    thread: threading.Thread


def simulated_collector(node: Node, processes=None) -> SimulatedCollector:
    """The node's simulated GPUs, running the demo's model-server processes, counters resumed."""
    if processes is None:
        processes = processes_by_node().get(node.hostname, {})
    def utilization(index: int, t: float) -> float:
        # GPUs no deployment runs on idle: only the model servers load this demo's GPUs, so every GPU's
        # utilization is constant within a minute (what backfill's fast-forward relies on).
        return sum(fn(t) for _, fn in processes.get(index, []))

    collector = SimulatedCollector(gpus=node.accelerators.count(), seed=SIM_SEED, node=node.hostname,
                                   utilization=utilization, processes=processes)
    last = dict(Source.objects.filter(accelerator__node=node, accelerator__isnull=False)
                .values_list("accelerator__uuid", "last_values"))
    for gpu in collector.gpus:
        joules = last.get(gpu.uuid, {}).get("energy_joules")
        if joules is not None and joules > gpu.energy_joules:
            gpu.energy_joules = joules
    return collector


def start_simulated_agents(url: str, stop: threading.Event, interval: float = 5.0) -> list[RunningAgent]:
    """Start one agent thread per simulated node. Tokens are re-issued at each start: only hashes are kept."""
    spool_dir = Path(settings.DATA_DIR) / "simulated-agents"
    spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    running = []
    nodes = Node.objects.filter(simulated=True).exclude(status=Node.Status.DECOMMISSIONED).prefetch_related(
        "accelerators")
    for node in nodes:
        with transaction.atomic():
            token = issue_agent_token(node)
            audit.record(actor=None, source="system", action="action", instance=node,
                         changes={"agent_token_hash": {"old": audit.MASK, "new": audit.MASK}})
        config = AgentConfig(url=url, token=token, node=node.hostname, collectors=("simulated",),
                             sim_gpus=node.accelerators.count(), sim_seed=SIM_SEED, interval=interval,
                             spool_path=str(spool_dir / f"{node.hostname}.sqlite3"))
        agent = Agent(config, collectors=[simulated_collector(node)])
        thread = threading.Thread(target=agent.run_forever, args=(stop,), name=f"agent-{node.hostname}",
                                  daemon=True)
        thread.start()
        running.append(RunningAgent(node.hostname, thread))
    return running

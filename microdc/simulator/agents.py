"""Run the real node agent, with its simulated collector, for each simulated node of the demo site.

Each agent pushes over HTTP with its own node token, so the demo exercises the same path as a real rack.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from microdc.agent import Agent, AgentConfig
from microdc.core import audit
from microdc.nodes.agent_tokens import issue_agent_token
from microdc.nodes.models import Node

from .demo_site import SIM_SEED


@dataclass
class RunningAgent:
    node: str
    thread: threading.Thread


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
        agent = Agent(config)
        thread = threading.Thread(target=agent.run_forever, args=(stop,), name=f"agent-{node.hostname}",
                                  daemon=True)
        thread.start()
        running.append(RunningAgent(node.hostname, thread))
    return running

"""microdc node agent: collects accelerator and host telemetry and pushes it to the appliance.

Pure Python (stdlib, nvidia-ml-py, httpx); imports nothing from Django or other microdc apps, so it
installs and runs on GPU nodes on its own.

In-process use (the demo runs simulated nodes this way)::

    from microdc.agent import Agent, AgentConfig, collect_once
    stop = threading.Event()
    agent = Agent(AgentConfig(url="http://127.0.0.1:8000", token="...", node="sim-node-01",
                              collectors=("simulated",), spool_path="/tmp/sim-node-01.sqlite3"))
    threading.Thread(target=agent.run_forever, args=(stop,), daemon=True).start()
"""

from microdc.agent.version import AGENT_VERSION

__version__ = AGENT_VERSION
__all__ = ["AGENT_VERSION", "Agent", "AgentConfig", "collect_once"]


def __getattr__(name: str):  # lazy, so `--once` never imports httpx and tests import only what they use
    if name in ("Agent", "collect_once"):
        from microdc.agent import agent

        return getattr(agent, name)
    if name == "AgentConfig":
        from microdc.agent.config import AgentConfig

        return AgentConfig
    raise AttributeError(name)

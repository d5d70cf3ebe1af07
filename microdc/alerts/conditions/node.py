"""Node conditions: the agent's silence; and any node sensor metric (hwmon, RAPL) for admin rules."""

from collections.abc import Iterator

from microdc.nodes.models import Node

from ..models import AlertRule
from ..snapshot import Snapshot
from .base import Observation, clean, number


def _labels(snapshot: Snapshot, node: Node) -> dict[str, str]:
    return clean({"site": snapshot.site_of_node[node.pk].slug, "rack": node.rack.name, "node": node.hostname,
                  "simulated": "true" if node.simulated else ""})


def agent_silent(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    """Seconds since the agent last pushed (since the node was added, for one that never did)."""
    for node in snapshot.nodes.values():
        if node.status != Node.Status.ACTIVE:
            continue  # maintenance: silence is expected
        agent = snapshot.agents.get(node.pk)
        seen = agent.last_seen if agent and agent.last_seen else None
        since = seen or node.created
        silent = max(0.0, (snapshot.now - since).total_seconds())
        words = f"agent silent since {seen:%Y-%m-%d %H:%M:%S} UTC" if seen else "agent has never reported"
        yield Observation(_labels(snapshot, node), silent, f"{node.hostname}: {words} ({silent:.0f} s)",
                          snapshot.node_url(node.pk), snapshot.site_of_node[node.pk].pk)


def metric(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    if rule.metric == "agent_silent_seconds":
        yield from agent_silent(rule, snapshot)
        return
    for node_id, sources in snapshot.sensor_sources.items():
        node = snapshot.nodes[node_id]
        for source in sources:
            if rule.metric not in source.last_values:
                continue
            value = source.last_values[rule.metric] if snapshot.fresh(source) else None
            yield Observation({**_labels(snapshot, node), "sensor": source.sensor}, value,
                              f"{node.hostname} {source.sensor} {rule.metric} {number(value)}",
                              snapshot.node_url(node.pk), snapshot.site_of_node[node.pk].pk)


BUILTIN = {"node_agent_silent": agent_silent}

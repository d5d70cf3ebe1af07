"""How the demo's simulated nodes draw power at their rack PDUs' outlets: the node's GPUs plus the rest of
the server (CPUs, memory, fans, drives). The live facility and the backfill use the same rule, so a node's
outlet energy is always above its GPUs' and the difference is the node overhead the ledger shares out.
"""

from .demo_site import NODES

NODE_BASE_WATTS = 450.0  # CPUs, memory, fans, drives of a 4U GPU server, besides its GPUs
OUTLETS_PER_PDU = 4


def node_outlet(hostname: str) -> tuple[str, int]:
    """(rack, outlet number) of a demo node: outlet n feeds the n-th node of its rack."""
    rack = next(n[0] for n in NODES if n[1] == hostname)
    return rack, [n[1] for n in NODES if n[0] == rack].index(hostname) + 1


def node_watts(gpu_watts: float) -> float:
    return gpu_watts + NODE_BASE_WATTS


def rack_outlets(gpu_watts_by_node: dict[str, float]) -> dict[str, list[float]]:
    """Each rack's outlet loads (watts) from each node's total GPU power; outlets without a node carry 0."""
    racks: dict[str, list[float]] = {}
    for _, hostname, _, _ in NODES:
        rack, outlet = node_outlet(hostname)
        outlets = racks.setdefault(rack, [0.0] * OUTLETS_PER_PDU)
        outlets[outlet - 1] = node_watts(gpu_watts_by_node.get(hostname, 0.0))
    return racks

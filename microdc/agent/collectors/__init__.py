"""Collector registry: names accepted by ``--collectors``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from microdc.agent.collectors.base import Collector, CollectorResult

if TYPE_CHECKING:
    from microdc.agent.config import AgentConfig

__all__ = ["COLLECTOR_NAMES", "Collector", "CollectorResult", "build_collectors"]

COLLECTOR_NAMES = ("nvml", "sysfs", "simulated")


def build_collectors(config: AgentConfig) -> list[Collector]:
    """Instantiate the collectors named in ``config.collectors``, in that order."""
    collectors: list[Collector] = []
    for name in config.collectors:
        if name == "nvml":
            from microdc.agent.collectors.nvml import NvmlCollector
            from microdc.agent.processes import ProcessMap

            collectors.append(NvmlCollector(record_raw=config.nvml_raw,
                                            process_map=ProcessMap(config.proc_root, config.run_dir)))
        elif name == "sysfs":
            from microdc.agent.collectors.sysfs import SysfsCollector

            collectors.append(SysfsCollector(root=config.sysfs_root))
        elif name == "simulated":
            from microdc.agent.collectors.simulated import SimulatedCollector

            collectors.append(
                SimulatedCollector(gpus=config.sim_gpus, seed=config.sim_seed, node=config.node)
            )
        else:
            raise ValueError(f"unknown collector {name!r}; choose from {', '.join(COLLECTOR_NAMES)}")
    return collectors

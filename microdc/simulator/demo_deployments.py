"""The demo's SIMULATED model servers: which deployments run where, their loads, and what the simulated
agents and servers need to follow them.

One deployment holds two GPUs of a node alone; two others share one GPU of another node (so the ledger
splits it by their processes' utilization). Each has a load (inference_load) that drives both its server's
counters and its process's share of the GPU, so the demo's J/token comes out of the real scrape, rollup
and attribution code.
"""

import datetime
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from microdc.agent.collectors.simulated import ProcessFn, speed_of
from microdc.energy.servers import sync_model_servers
from microdc.nodes.models import Accelerator, Node
from microdc.provisioning.models import Deployment, DeploymentRevision, Runtime

from .inference_load import DeploymentLoad, LoadProfile
from .model_server import SimulatedModelServer

MODEL_PORT_BASE = 18100  # the simulated servers' ports on loopback; run_simulators moves one if it is taken
LOAD_SEED = 0  # the loads are the same in the agents, the servers and the backfill


@dataclass(frozen=True)
class DemoDeployment:
    name: str
    model: str
    node: str
    gpus: tuple[int, ...]
    profile: LoadProfile = field(default_factory=LoadProfile)

    @property
    def unit(self) -> str:
        """The systemd unit the microdc_model role runs it as (contract B maps it back to the deployment)."""
        return f"microdc-model-{self.name}"

    def load(self) -> DeploymentLoad:
        return DeploymentLoad(self.name, LOAD_SEED, self.profile)


DEPLOYMENTS = (
    DemoDeployment("chat", "simulated-llama-3.1-70b", "gpu-a01-01", (0, 1),
                   LoadProfile(peak_rps=3.0, capacity_rps=5.0, prompt_tokens=700, generation_tokens=260)),
    DemoDeployment("code", "simulated-qwen2.5-coder-7b", "gpu-a01-02", (0,),
                   LoadProfile(peak_rps=1.5, capacity_rps=6.0, prompt_tokens=1200, generation_tokens=180,
                               peak_hour_utc=10.0)),
    DemoDeployment("summarize", "simulated-mistral-7b", "gpu-a01-02", (0,),
                   LoadProfile(peak_rps=0.8, capacity_rps=6.0, prompt_tokens=2400, generation_tokens=120,
                               peak_hour_utc=16.0, decode_tokens_per_second=60.0)),
)


def port_of(index: int) -> int:
    return MODEL_PORT_BASE + index


def endpoint(deployment: DemoDeployment, port: int) -> dict:
    return {"node": deployment.node, "state": "healthy", "url": f"http://127.0.0.1:{port}/v1",
            "metrics_url": f"http://127.0.0.1:{port}/metrics", "simulated": True}


def _artifact(deployment: DemoDeployment) -> tuple[str, str]:
    """A small file standing in for the model weights, labelled simulated: (path, sha256)."""
    directory = Path(settings.DATA_DIR) / "artifacts" / "simulated"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{deployment.model}.txt"
    content = f"SIMULATED model artifact for {deployment.model}; no weights, for the demo only.\n".encode()
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)
    return str(path), hashlib.sha256(content).hexdigest()


def seed_demo_deployments(since: datetime.datetime) -> list[str]:
    """Create the demo's healthy deployments (created at `since`, where the backfilled history begins) with
    one revision each. Idempotent: an existing deployment of that name is left as it is."""
    created = []
    for index, spec in enumerate(DEPLOYMENTS):
        if Deployment.objects.filter(name=spec.name).exclude(status=Deployment.Status.REMOVED).exists():
            continue
        node = Node.objects.get(hostname=spec.node)
        deployment = Deployment.objects.create(name=spec.name, runtime=Runtime.VLLM, created=since,
                                               status=Deployment.Status.HEALTHY,
                                               endpoints=[endpoint(spec, port_of(index))])
        path, sha256 = _artifact(spec)
        revision = DeploymentRevision.objects.create(
            deployment=deployment, number=1, artifact=path, artifact_sha256=sha256, accelerators=list(spec.gpus),
            port=port_of(index), args=["--served-model-name", spec.model], created=since,
            note="simulated model server (demo)")
        revision.nodes.set([node])
        deployment.current_revision = revision
        deployment.save(update_fields=["current_revision"])
        created.append(f"deployment {spec.name}")
    return created


def processes_by_node() -> dict[str, dict[int, list[tuple[str, ProcessFn]]]]:
    """For each node's simulated agent: GPU index -> [(unit, utilization of that process at t)]."""
    out: dict[str, dict[int, list[tuple[str, ProcessFn]]]] = {}
    for spec in DEPLOYMENTS:
        load = spec.load()
        for gpu in spec.gpus:
            out.setdefault(spec.node, {}).setdefault(gpu, []).append((spec.unit, load.utilization))
    return out


def gpu_speed(spec: DemoDeployment):
    """How fast the deployment's simulated GPUs run now: the slowest one sets the pace (a power cap slows it)."""
    uuids = list(Accelerator.objects.filter(node__hostname=spec.node, index__in=spec.gpus)
                 .values_list("uuid", flat=True))
    return lambda: min((speed_of(uuid) for uuid in uuids), default=1.0)


def start_demo_model_servers() -> list[SimulatedModelServer]:
    """Start a simulated model server per demo deployment (its counters from now, as a restarted server's
    are) and point the deployment's endpoint at it when its usual port was taken."""
    servers = []
    for index, spec in enumerate(DEPLOYMENTS):
        deployment = Deployment.objects.filter(name=spec.name, status=Deployment.Status.HEALTHY).first()
        if deployment is None:
            continue
        try:
            server = SimulatedModelServer(spec.load(), spec.model, port=port_of(index), speed=gpu_speed(spec))
        except OSError:  # the usual port is taken: any free one, recorded below
            server = SimulatedModelServer(spec.load(), spec.model, speed=gpu_speed(spec))
        servers.append(server.start())
        wanted = [endpoint(spec, server.port)]
        if deployment.endpoints != wanted:
            Deployment.objects.filter(pk=deployment.pk).update(endpoints=wanted)
    sync_model_servers()
    return servers

"""The agent's per-process GPU utilization lands as node sources keyed
``node/<node pk>/nvml-process/<GPU uuid>/<service>`` (contract B), from the simulator and from NVML."""

import json
import time
from pathlib import Path

import pytest
from django.conf import settings

from microdc.agent.collectors.nvml import NvmlCollector
from microdc.agent.collectors.simulated import SimulatedCollector
from microdc.agent.nvml_replay import replaying
from microdc.agent.processes import ProcessMap
from microdc.agent.sample import collect_sample, new_batch
from microdc.telemetry.models import Source

FIXTURE = Path(__file__).parent.parent / "agent" / "fixtures" / "nvml_h100.json"


def push(client, body):
    return client.generic("POST", "/api/v1/telemetry/", json.dumps(body), content_type="application/json")


def process_sources(node):
    return {s.sensor: s for s in Source.objects.filter(node=node, sensor__startswith="nvml-process/")}


@pytest.mark.django_db
def test_simulated_process_sensors_become_node_sources(agent, node):
    collector = SimulatedCollector(gpus=2, seed=3, node=node.hostname, processes={
        0: [("microdc-model-chat", lambda t: 0.5), ("microdc-model-embed", lambda t: 0.2)],
        1: [("microdc-model-chat", lambda t: 0.7)],
    })
    now = time.time()
    samples = [collect_sample([collector], now - 20 + i)[0] for i in range(0, 20, 5)]
    response = push(agent, new_batch(node.hostname, samples))
    assert response.status_code == 202, response.json()
    uuid0, uuid1 = (gpu.uuid for gpu in collector.gpus)
    sources = process_sources(node)
    assert set(sources) == {f"nvml-process/{uuid0}/microdc-model-chat", f"nvml-process/{uuid0}/microdc-model-embed",
                            f"nvml-process/{uuid1}/microdc-model-chat"}
    chat = sources[f"nvml-process/{uuid0}/microdc-model-chat"]
    assert chat.key == f"node/{node.pk}/nvml-process/{uuid0}/microdc-model-chat"
    assert chat.accelerator is None and chat.simulated is True
    assert chat.last_values == {"sm_utilization_ratio": 0.5} and chat.metric_names == ["sm_utilization_ratio"]


@pytest.mark.django_db
def test_nvml_process_sensors_become_node_sources(agent, node, tmp_path):
    """The NVML path, replaying tests/agent/fixtures/nvml_h100.json through pynvml, with a fake /proc in
    which the capture's pids run as the units microdc-model-chat and -embed."""
    for pid, unit in ((4101, "microdc-model-chat"), (4230, "microdc-model-embed")):
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "cgroup").write_text(f"0::/system.slice/{unit}.service\n")
    capture = json.loads(FIXTURE.read_text())
    collector = NvmlCollector(process_map=ProcessMap(str(tmp_path / "proc"), str(tmp_path / "run")))
    with replaying(capture["nvml_raw"]):
        sample, statuses = collect_sample([collector], time.time())
    assert statuses == {"nvml": "ok"}, statuses
    assert push(agent, new_batch(node.hostname, [sample])).status_code == 202
    uuid0 = capture["nvml_raw"]["devices"][0]["calls"]["nvmlDeviceGetUUID()"]
    sources = process_sources(node)
    assert {k: (s.simulated, s.last_values) for k, s in sources.items()} == {
        f"nvml-process/{uuid0}/microdc-model-chat": (False, {"sm_utilization_ratio": 0.61}),
        f"nvml-process/{uuid0}/microdc-model-embed": (False, {"sm_utilization_ratio": 0.33}),
    }


@pytest.mark.django_db
def test_a_node_with_many_deployments_over_time_stays_within_the_sensor_limit(agent, node):
    """8 GPUs, each having run 12 different model servers over the node's life: 96 process sources, well
    under MICRODC_MAX_SENSORS_PER_NODE beside the node's own hwmon/RAPL sensors."""
    gpus = 8
    deployments = [f"microdc-model-d{i:02d}" for i in range(12)]
    now = time.time()
    for generation, name in enumerate(deployments):  # one deployment after another, on every GPU
        collector = SimulatedCollector(gpus=gpus, seed=1, node=node.hostname,
                                       processes={i: [(name, lambda t: 0.4)] for i in range(gpus)})
        sample, _ = collect_sample([collector], now - 60 + generation)
        response = push(agent, new_batch(node.hostname, [sample]))
        assert response.status_code == 202, response.json()
    count = len(process_sources(node))
    assert count == gpus * len(deployments)
    assert count < settings.MICRODC_MAX_SENSORS_PER_NODE / 2

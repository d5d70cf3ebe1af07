"""Per-process GPU utilization through the real pynvml module (functions replaced by the replay), mapped to
model-server services through a fake /proc tree."""

from __future__ import annotations

import json
import logging

import pynvml
import pytest

from microdc.agent.cli import main
from microdc.agent.collectors.nvml import NvmlCollector
from microdc.agent.processes import ProcessMap

NOW = 1_795_750_800.123456  # the fixture's ts
PROCESS_UTILIZATION = "nvmlDeviceGetProcessUtilization()"
RUNNING = "nvmlDeviceGetComputeRunningProcesses()"


@pytest.fixture
def node(proc_tree):
    """The fixture's pids: 4101 a vLLM server under systemd, 4230 a supervised embedding server's worker."""
    proc_tree.unit(4101, "microdc-model-chat")
    proc_tree.process(4228, ppid=1, cgroup="0::/")
    proc_tree.process(4229, ppid=4228, cgroup="0::/")
    proc_tree.process(4230, ppid=4229, cgroup="0::/")
    proc_tree.pidfile("microdc-model-embed", 4228, 4229)
    return proc_tree


def collector_for(tree, **kwargs):
    return NvmlCollector(process_map=ProcessMap(str(tree.proc), str(tree.run_dir)), **kwargs)


def sample(pid, ts, sm):
    return {"pid": pid, "timeStamp": ts, "smUtil": sm, "memUtil": 0, "encUtil": 0, "decUtil": 0}


def by_name(result):
    assert all(s["source"] == "nvml-process" and s["simulated"] is False for s in result.sensors)
    return {(s["chip"], s["name"]): s["metrics"]["sm_utilization_ratio"] for s in result.sensors}


def test_processes_are_averaged_per_process_and_reported_per_service(fake_nvml, nvml_capture, node,
                                                                     validate_sample):
    raw = nvml_capture["nvml_raw"]
    fake_nvml(raw)
    collector = collector_for(node)
    result = collector.collect(NOW)
    uuid0 = raw["devices"][0]["calls"]["nvmlDeviceGetUUID()"]
    # fixture samples: 4101 at 58 % and 64 %, 4230 at 35 % and 31 %
    assert by_name(result) == {(uuid0, "microdc-model-chat"): pytest.approx(0.61),
                               (uuid0, "microdc-model-embed"): pytest.approx(0.33)}
    assert collector.status == "ok", "GPU 1 answers NOT_FOUND with nothing running: no sensor, no problem"
    validate_sample({"ts": nvml_capture["ts"], "devices": result.devices, "sensors": result.sensors})


def test_only_samples_since_the_last_collection_count_and_not_found_means_idle(fake_nvml, nvml_capture, node):
    raw = nvml_capture["nvml_raw"]
    buffer = raw["devices"][0]["calls"][PROCESS_UTILIZATION]
    newest = max(s["timeStamp"] for s in buffer)
    state = fake_nvml(raw)
    collector = collector_for(node)
    collector.collect(NOW)
    buffer.append(sample(4101, newest + 1_000_000, 90))
    buffer.append(sample(4101, newest + 2_000_000, 80))
    uuid0 = raw["devices"][0]["calls"]["nvmlDeviceGetUUID()"]
    values = by_name(collector.collect(NOW + 2))
    assert values == {(uuid0, "microdc-model-chat"): pytest.approx(0.85),  # the two new samples only
                      (uuid0, "microdc-model-embed"): 0.0}, "a running server with no new sample is idle: 0"
    # nothing new at all: NVML answers NOT_FOUND; both running servers are idle, the collector is fine
    assert sorted(by_name(collector.collect(NOW + 4)).values()) == [0.0, 0.0]
    assert collector.status == "ok"
    assert state.calls.count("nvmlDeviceGetProcessUtilization") == 6  # 2 GPUs x 3 collections


def test_several_pids_of_one_service_are_summed_and_capped(fake_nvml, nvml_capture, node):
    node.process(4102, ppid=4101, cgroup="0::/system.slice/microdc-model-chat.service")
    node.process(4300, ppid=1)  # a user's notebook on the same GPU: mapped to nothing, not reported
    raw = nvml_capture["nvml_raw"]
    calls = raw["devices"][0]["calls"]
    calls[PROCESS_UTILIZATION] = [sample(4101, 10, 70), sample(4102, 10, 45), sample(4230, 10, 20),
                                  sample(4300, 10, 99)]
    calls[RUNNING] = [{"pid": p, "usedGpuMemory": 2**30} for p in (4101, 4102, 4230, 4300)]
    fake_nvml(raw)
    values = {name: v for (_, name), v in by_name(collector_for(node).collect(NOW)).items()}
    assert values == {"microdc-model-chat": 1.0, "microdc-model-embed": pytest.approx(0.2)}


def test_not_supported_degrades_once_and_is_not_asked_again(fake_nvml, nvml_capture, node, caplog):
    raw = nvml_capture["nvml_raw"]
    raw["devices"][1]["calls"][PROCESS_UTILIZATION] = {"error": "NotSupported"}
    state = fake_nvml(raw)
    collector = collector_for(node)
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        results = [collector.collect(NOW + i) for i in range(3)]
    for result in results:
        assert len(result.devices) == 2, "the GPU itself is still reported"
        assert {name for _, name in by_name(result)} == {"microdc-model-chat", "microdc-model-embed"}
    assert collector.status == "degraded: GPU 1: per-process utilization not supported (NVML NOT_SUPPORTED)"
    warnings = [r for r in caplog.records if "per-process utilization" in r.getMessage()]
    assert len(warnings) == 1
    assert state.calls.count("nvmlDeviceGetProcessUtilization") == 1 + 3  # GPU 1 once, GPU 0 every time


def test_a_driver_without_the_call_reports_no_processes_and_stays_ok(fake_nvml, nvml_capture, node):
    raw = nvml_capture["nvml_raw"]
    for dev in raw["devices"]:
        del dev["calls"][PROCESS_UTILIZATION]  # the replay answers FunctionNotFound
    fake_nvml(raw)
    collector = collector_for(node)
    assert collector.collect(NOW).sensors == [] and collector.collect(NOW + 1).sensors == []
    assert collector.status == "ok"


def test_zero_samples_answered_as_success_is_no_samples(fake_nvml, nvml_capture, node, monkeypatch):
    """pynvml raises NVMLError(NVML_SUCCESS) when NVML's sizing call finds no sample at all."""
    fake_nvml(nvml_capture["nvml_raw"])

    def no_samples(handle, last_seen):
        raise pynvml.NVMLError(pynvml.NVML_SUCCESS)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetProcessUtilization", no_samples)
    collector = collector_for(node)
    assert sorted(by_name(collector.collect(NOW)).values()) == [0.0, 0.0]
    assert collector.status == "ok"


def test_a_gpu_lost_while_reading_processes_is_skipped(fake_nvml, nvml_capture, node):
    raw = nvml_capture["nvml_raw"]
    raw["devices"][0]["calls"][RUNNING] = {"error": "GpuIsLost"}
    fake_nvml(raw)
    collector = collector_for(node)
    result = collector.collect(NOW)
    assert [d["index"] for d in result.devices] == [1] and result.sensors == []
    assert collector.status.startswith("degraded: GPU 0: nvmlDeviceGetComputeRunningProcesses")


def test_once_json_shows_the_processes_and_replays(fake_nvml, nvml_capture, node, capsys):
    fake_nvml(nvml_capture["nvml_raw"])
    args = ["--once", "--json", "--nvml-raw", "--collectors", "nvml", "--node", "gpu-node-01",
            "--proc-root", str(node.proc), "--run-dir", str(node.run_dir)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nvml_raw"] == nvml_capture["nvml_raw"], "the recorded per-process calls replay as captured"
    assert {(s["source"], s["name"]) for s in out["sensors"]} == {("nvml-process", "microdc-model-chat"),
                                                                  ("nvml-process", "microdc-model-embed")}
    assert out["collectors"] == {"nvml": "ok"}
    assert main([args[0], *args[3:]]) == 0  # human-readable form names them too
    text = capsys.readouterr().out
    uuid0 = nvml_capture["nvml_raw"]["devices"][0]["calls"]["nvmlDeviceGetUUID()"]
    assert f"nvml-process {uuid0} microdc-model-chat: sm_utilization_ratio=0.61" in text

"""Desired power limits: from the appliance's push reply, through the real pynvml module (functions replaced at
the module boundary, in mW) or the simulator, to the enforced limit reported in the next sample."""

from __future__ import annotations

import logging

import pytest

from microdc.agent.collectors.nvml import NvmlCollector
from microdc.agent.collectors.simulated import SimulatedCollector
from microdc.agent.power_limits import RETRY_SECONDS, DesiredLimits
from tests.agent.test_agent_push import RunningAgent, agent_config, wait_until


def gpu_uuids(capture) -> list[str]:
    return [d["uuid"] for d in capture["devices"]]


@pytest.fixture
def nvml(fake_nvml, nvml_capture):
    def make(edit=None):
        if edit:
            edit(nvml_capture["nvml_raw"]["devices"])
        state = fake_nvml(nvml_capture["nvml_raw"])
        return NvmlCollector(), state

    return make


def by_uuid(result) -> dict[str, dict]:
    return {d["uuid"]: d for d in result.devices}


def test_a_desired_limit_is_set_in_milliwatts_and_reported_enforced(nvml, nvml_capture):
    collector, state = nvml()
    first, second = gpu_uuids(nvml_capture)
    collector.apply_power_limits({first: 400.0}, now=100.0)
    devices = by_uuid(collector.collect(101.0))
    assert devices[first]["metrics"]["power_limit_watts"] == 400.0
    assert devices[first]["power_limit"] == {"desired_watts": 400.0, "status": "applied", "detail": ""}
    assert devices[first]["metrics"]["power_limit_min_watts"] == 200.0
    assert devices[first]["metrics"]["power_limit_default_watts"] == 700.0
    # A GPU the appliance does not name is left alone.
    assert devices[second]["metrics"]["power_limit_watts"] == 700.0 and "power_limit" not in devices[second]
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 1


def test_an_unchanged_limit_is_not_set_again_and_null_means_the_default(nvml, nvml_capture):
    collector, state = nvml()
    first = gpu_uuids(nvml_capture)[0]
    collector.apply_power_limits({first: 450.0}, now=1.0)
    collector.apply_power_limits({first: 450.0}, now=2.0)
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 1
    collector.apply_power_limits({first: None}, now=3.0)
    assert by_uuid(collector.collect(4.0))[first]["metrics"]["power_limit_watts"] == 700.0
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 2


def test_a_limit_outside_the_constraints_is_refused_naming_them(nvml, nvml_capture):
    collector, state = nvml()
    first = gpu_uuids(nvml_capture)[0]
    collector.apply_power_limits({first: 150.0}, now=1.0)
    limit = by_uuid(collector.collect(2.0))[first]["power_limit"]
    assert limit["status"] == "out_of_range" and "200-700 W" in limit["detail"]
    assert "nvmlDeviceSetPowerManagementLimit" not in state.calls


def test_no_permission_is_said_once_and_retried_only_after_a_while(nvml, nvml_capture, caplog):
    def refuse(devices):
        devices[0]["calls"]["nvmlDeviceSetPowerManagementLimit()"] = {"error": "NoPermission"}

    collector, state = nvml(refuse)
    first = gpu_uuids(nvml_capture)[0]
    with caplog.at_level(logging.WARNING):
        for t in range(5):
            collector.apply_power_limits({first: 400.0}, now=float(t))
    limit = by_uuid(collector.collect(5.0))[first]["power_limit"]
    assert limit["status"] == "not_permitted" and "root" in limit["detail"]
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 1
    assert caplog.text.count("power limit for") == 1
    collector.apply_power_limits({first: 400.0}, now=RETRY_SECONDS + 1)
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 2
    collector.apply_power_limits({first: 410.0}, now=RETRY_SECONDS + 2)  # a new desire is tried at once
    assert state.calls.count("nvmlDeviceSetPowerManagementLimit") == 3


def test_a_board_without_settable_limits_is_not_supported(nvml, nvml_capture):
    def unsupported(devices):
        devices[0]["calls"]["nvmlDeviceGetPowerManagementLimitConstraints()"] = {"error": "NotSupported"}

    collector, _ = nvml(unsupported)
    first = gpu_uuids(nvml_capture)[0]
    collector.apply_power_limits({first: 400.0}, now=1.0)
    device = by_uuid(collector.collect(2.0))[first]
    assert device["power_limit"]["status"] == "not_supported"
    assert "power_limit_min_watts" not in device["metrics"]  # unknown is absent, never zero


def test_the_simulated_gpu_clamps_its_power_and_clocks_under_the_cap():
    sim = SimulatedCollector(gpus=1, seed=3, node="n", utilization=lambda i, t: 1.0)
    uuid = sim.gpus[0].uuid
    before = sim.collect(10.0).devices[0]["metrics"]
    sim.apply_power_limits({uuid: 300.0}, now=10.0)
    after = sim.collect(20.0).devices[0]
    assert before["power_watts"] == 700.0 and after["metrics"]["power_watts"] == 300.0
    assert after["metrics"]["power_limit_watts"] == 300.0
    assert after["metrics"]["sm_clock_hertz"] < before["sm_clock_hertz"]
    assert "sw_power_cap" in after["throttle_reasons"]
    # The energy counter integrates the old power up to the change and the capped power after it.
    energy = sim.collect(30.0).devices[0]["metrics"]["energy_joules"] - after["metrics"]["energy_joules"]
    assert energy == pytest.approx(300.0 * 10, rel=1e-6)
    sim.apply_power_limits({uuid: 50.0}, now=30.0)
    assert sim.collect(31.0).devices[0]["power_limit"]["status"] == "out_of_range"


def test_replies_without_limits_change_nothing_and_bad_entries_are_left_out(caplog):
    desired = DesiredLimits()
    desired.update_from_reply({"accepted": 1})
    assert desired.current() is None
    with caplog.at_level(logging.WARNING):
        desired.update_from_reply({"power_limits": {"GPU-a": 400, "GPU-b": None, "GPU-c": -5, "GPU-d": "400",
                                                    "GPU-e": True, "GPU-f": float("inf")}})
    assert desired.current() == {"GPU-a": 400.0, "GPU-b": None}
    assert "GPU-c" in caplog.text


def test_the_agent_applies_the_limits_of_the_push_reply(tmp_path, telemetry_server):
    run = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token))
    try:
        uuid = run.recorder.inner.gpus[0].uuid
        run.recorder.apply_power_limits = run.recorder.inner.apply_power_limits  # the collector's own setter
        telemetry_server.reply_extra = {"power_limits": {uuid: 350.0}}

        def capped() -> bool:
            return any(d["uuid"] == uuid and d["metrics"]["power_limit_watts"] == 350.0
                       for s in telemetry_server.samples() for d in s["devices"])

        wait_until(capped, what="a sample with the desired limit enforced")
        # The appliance goes away: the node keeps the limit it last applied.
        telemetry_server.stop()
        collected = len(run.recorder.times)
        wait_until(lambda: len(run.recorder.times) >= collected + 5, what="collection during the outage")
        assert run.recorder.inner.gpus[0].limit_watts == 350.0
        # Back, with a new desired limit: the node takes it with the first answer.
        telemetry_server.reply_extra = {"power_limits": {uuid: 420.0}}
        telemetry_server.start()
        wait_until(lambda: run.recorder.inner.gpus[0].limit_watts == 420.0, what="the new limit after the outage")
    finally:
        run.stop()

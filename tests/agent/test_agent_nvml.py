"""NVML collector against the real nvidia-ml-py module with its functions replaced at the pynvml boundary."""

from __future__ import annotations

import ctypes.util
import json
import logging

import pynvml
import pytest

from microdc.agent.agent import collect_once
from microdc.agent.cli import main
from microdc.agent.collectors.nvml import NvmlCollector, decode_clock_event_reasons
from microdc.agent.config import AgentConfig
from microdc.agent.nvml_replay import replaying

NOW = 1_800_000_000.0
NOT_SUPPORTED = {"error": "NotSupported"}


def gpu_devices(capture):
    return [d for d in capture["devices"] if d["kind"] == "gpu" and not d["simulated"]]


def test_replay_of_capture_gives_the_captured_devices(fake_nvml, nvml_capture, validate_sample):
    fake_nvml(nvml_capture["nvml_raw"])
    collector = NvmlCollector()
    result = collector.collect(NOW)
    assert collector.status == "ok"
    assert result.devices == gpu_devices(nvml_capture)
    assert result.sensors == []
    validate_sample({"ts": nvml_capture["ts"], "devices": result.devices, "sensors": []})


def test_units_are_converted_to_base_units(fake_nvml, nvml_capture):
    """mW -> W, mJ -> J, MHz -> Hz, percent -> ratio, KB/s -> bytes/s, computed here from the raw values."""
    fake_nvml(nvml_capture["nvml_raw"])
    device = NvmlCollector().collect(NOW).devices[0]
    calls = nvml_capture["nvml_raw"]["devices"][0]["calls"]
    m = device["metrics"]
    assert m["power_watts"] == pytest.approx(calls["nvmlDeviceGetPowerUsage()"] / 1000)
    assert m["energy_joules"] == pytest.approx(calls["nvmlDeviceGetTotalEnergyConsumption()"] / 1000)
    assert m["power_limit_watts"] == pytest.approx(calls["nvmlDeviceGetEnforcedPowerLimit()"] / 1000)
    assert m["sm_clock_hertz"] == pytest.approx(calls["nvmlDeviceGetClockInfo(NVML_CLOCK_SM)"] * 1e6)
    assert m["pcie_rx_bytes_per_second"] == pytest.approx(
        calls["nvmlDeviceGetPcieThroughput(NVML_PCIE_UTIL_RX_BYTES)"] * 1024)
    util = calls["nvmlDeviceGetUtilizationRates()"]
    if "error" not in util:
        assert m["utilization_ratio"] == pytest.approx(util["gpu"] / 100)
        assert 0.0 <= m["utilization_ratio"] <= 1.0
    mem = calls["nvmlDeviceGetMemoryInfo(nvmlMemory_v2)"]
    assert (m["memory_used_bytes"], m["memory_total_bytes"]) == (mem["used"], mem["total"])


def test_recorded_raw_values_replay_identically(fake_nvml, nvml_capture):
    """What --nvml-raw records is exactly what the fake replays, so a real capture can replace the fixture."""
    fake_nvml(nvml_capture["nvml_raw"])
    collector = NvmlCollector(record_raw=True)
    collector.collect(NOW)
    assert collector.last_raw == nvml_capture["nvml_raw"]


def test_unsupported_fields_are_left_out_not_zero(fake_nvml, nvml_capture, validate_sample):
    raw = nvml_capture["nvml_raw"]
    calls = raw["devices"][0]["calls"]
    unsupported = {
        "nvmlDeviceGetPowerUsage()": ["power_watts"],
        "nvmlDeviceGetTotalEnergyConsumption()": ["energy_joules"],
        "nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP)": ["memory_temperature_celsius"],
        "nvmlDeviceGetUtilizationRates()": ["utilization_ratio", "memory_utilization_ratio"],
        "nvmlDeviceGetFanSpeed()": ["fan_speed_ratio"],
        "nvmlDeviceGetTotalEccErrors(NVML_MEMORY_ERROR_TYPE_CORRECTED,NVML_VOLATILE_ECC)":
            ["ecc_corrected_errors_total"],
        "nvmlDeviceGetTotalEccErrors(NVML_MEMORY_ERROR_TYPE_UNCORRECTED,NVML_VOLATILE_ECC)":
            ["ecc_uncorrected_errors_total"],
        "nvmlDeviceGetPcieThroughput(NVML_PCIE_UTIL_TX_BYTES)": ["pcie_tx_bytes_per_second"],
        "nvmlDeviceGetPcieThroughput(NVML_PCIE_UTIL_RX_BYTES)": ["pcie_rx_bytes_per_second"],
        "nvmlDeviceGetCurrentClocksEventReasons()": [],
        "nvmlDeviceGetMigMode()": [],
    }
    for key in unsupported:
        calls[key] = dict(NOT_SUPPORTED)
    fake_nvml(raw)
    collector = NvmlCollector()
    device = collector.collect(NOW).devices[0]
    expected = gpu_devices(nvml_capture)[0]
    gone = {k for keys in unsupported.values() for k in keys}
    assert not gone & set(device["metrics"]), "an unsupported field was reported"
    assert device["metrics"] == {k: v for k, v in expected["metrics"].items() if k not in gone}
    assert "throttle_reasons" not in device and "mig_mode" not in device
    assert device["uuid"] == expected["uuid"]
    assert collector.status == "ok"
    validate_sample({"ts": nvml_capture["ts"], "devices": [device], "sensors": []})


@pytest.mark.parametrize("record", [
    {"nvmlReturn": pynvml.NVML_ERROR_NOT_SUPPORTED, "valueType": 1, "value": None},
    {"nvmlReturn": pynvml.NVML_SUCCESS, "valueType": 1, "value": 0},  # "no HBM sensor" on some drivers
])
def test_memory_temperature_field_not_reported_when_field_fails(fake_nvml, nvml_capture, record):
    raw = nvml_capture["nvml_raw"]
    raw["devices"][0]["calls"]["nvmlDeviceGetFieldValues(NVML_FI_DEV_MEMORY_TEMP)"] = record
    fake_nvml(raw)
    metrics = NvmlCollector().collect(NOW).devices[0]["metrics"]
    assert "memory_temperature_celsius" not in metrics
    assert metrics["temperature_celsius"] == gpu_devices(nvml_capture)[0]["metrics"]["temperature_celsius"]


def test_other_field_errors_leave_the_field_out_and_warn_once(fake_nvml, nvml_capture, caplog):
    raw = nvml_capture["nvml_raw"]
    raw["devices"][0]["calls"]["nvmlDeviceGetEnforcedPowerLimit()"] = {"error": "NoPermission"}
    fake_nvml(raw)
    collector = NvmlCollector()
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        for i in range(3):
            metrics = collector.collect(NOW + i).devices[0]["metrics"]
            assert "power_limit_watts" not in metrics
    warnings = [r for r in caplog.records if "nvmlDeviceGetEnforcedPowerLimit" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


def test_older_driver_falls_back_and_stops_asking(fake_nvml, nvml_capture):
    """Without nvmlDeviceGetTemperatureV / MemoryInfo_v2 / ClocksEventReasons the older calls are used, and
    the missing function is not called again on the next collection."""
    raw = nvml_capture["nvml_raw"]
    for dev in raw["devices"]:
        calls = dev["calls"]
        temperature_v = "nvmlDeviceGetTemperatureV(NVML_TEMPERATURE_GPU)"
        calls["nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)"] = calls[temperature_v]
        calls[temperature_v] = {"error": "FunctionNotFound"}
        v2 = calls.pop("nvmlDeviceGetMemoryInfo(nvmlMemory_v2)")
        calls["nvmlDeviceGetMemoryInfo()"] = {"total": v2["total"], "free": v2["free"],
                                              "used": v2["used"] + v2["reserved"]}
        calls["nvmlDeviceGetCurrentClocksThrottleReasons()"] = calls.pop(
            "nvmlDeviceGetCurrentClocksEventReasons()")
    state = fake_nvml(raw)
    collector = NvmlCollector()
    devices = collector.collect(NOW).devices
    expected = gpu_devices(nvml_capture)
    for dev, exp, r in zip(devices, expected, raw["devices"], strict=True):
        assert dev["metrics"]["temperature_celsius"] == exp["metrics"]["temperature_celsius"]
        assert dev["metrics"]["memory_used_bytes"] == r["calls"]["nvmlDeviceGetMemoryInfo()"]["used"]
        assert dev["throttle_reasons"] == exp["throttle_reasons"]
    assert state.calls.count("nvmlDeviceGetTemperatureV") == 1  # FunctionNotFound once, on the first GPU
    collector.collect(NOW + 10)
    assert state.calls.count("nvmlDeviceGetTemperatureV") == 1
    assert state.calls.count("nvmlDeviceGetTemperature") == 2 * len(devices)


def test_lost_gpu_is_skipped_and_the_rest_reported(fake_nvml, nvml_capture):
    raw = nvml_capture["nvml_raw"]
    raw["devices"][1]["calls"]["nvmlDeviceGetPowerUsage()"] = {"error": "GpuIsLost"}
    fake_nvml(raw)
    collector = NvmlCollector()
    devices = collector.collect(NOW).devices
    assert [d["uuid"] for d in devices] == [gpu_devices(nvml_capture)[0]["uuid"]]
    assert collector.status.startswith("degraded: GPU 1:")


@pytest.mark.parametrize(("error", "reason"), [
    ("LibraryNotFound", "NVML library not found"),
    ("DriverNotLoaded", "NVIDIA driver not loaded"),
    ("Uninitialized", "nvmlInit failed: Uninitialized"),
    ("OSError", "cannot load NVML"),
])
def test_missing_driver_is_reported_once_and_other_collectors_go_on(fake_nvml, caplog, error, reason,
                                                                     validate_sample):
    state = fake_nvml(None, init_error=error)
    config = AgentConfig(node="n1", collectors=("nvml", "simulated"), sim_gpus=2)
    from microdc.agent.collectors import build_collectors

    collectors = build_collectors(config)
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        outputs = [collect_once(config, collectors, now=NOW + i) for i in range(3)]
    for out in outputs:
        assert out["collectors"]["nvml"].startswith(f"unavailable: {reason}"), out["collectors"]
        assert out["collectors"]["simulated"] == "ok"
        assert len(out["devices"]) == 2 and all(d["simulated"] for d in out["devices"])
        validate_sample(out)
    nvml_warnings = [r for r in caplog.records if r.name.endswith("nvml")]
    assert len(nvml_warnings) == 1 and reason in nvml_warnings[0].getMessage()
    assert state.init_calls == 1, "nvmlInit retried every collection"


def test_driver_loaded_later_is_picked_up(fake_nvml, nvml_capture, caplog):
    fake_nvml(None, init_error="DriverNotLoaded")
    collector = NvmlCollector()
    assert collector.collect(NOW).devices == []
    assert collector.collect(NOW + 10).devices == []  # not retried yet
    state = fake_nvml(nvml_capture["nvml_raw"])
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        devices = collector.collect(NOW + NvmlCollector.INIT_RETRY_SECONDS + 1).devices
    assert devices == gpu_devices(nvml_capture)
    assert collector.status == "ok" and state.init_calls == 1
    assert any("available now" in r.getMessage() for r in caplog.records)
    collector.close()
    assert state.shutdown_calls == 1


def test_real_pynvml_without_a_driver_reports_library_not_found():
    """No fake at all: on a machine without libnvidia-ml the real nvmlInit fails, the collector says why."""
    if ctypes.util.find_library("nvidia-ml"):
        pytest.skip("this machine has libnvidia-ml (an NVIDIA driver): nothing to check here")
    collector = NvmlCollector()
    assert collector.collect(NOW).devices == []
    assert collector.status.startswith("unavailable: NVML library not found")


def test_nvml_shutdown_once_at_exit(fake_nvml, nvml_capture):
    state = fake_nvml(nvml_capture["nvml_raw"])
    out = collect_once(AgentConfig(node="n1", collectors=("nvml",)), now=NOW)
    assert len(out["devices"]) == len(gpu_devices(nvml_capture))
    assert (state.init_calls, state.shutdown_calls) == (1, 1)


def test_once_json_nvml_raw_is_a_replayable_capture(fake_nvml, nvml_capture, capsys):
    """`microdc-agent --once --json --nvml-raw` prints what this test file needs as its fixture."""
    fake_nvml(nvml_capture["nvml_raw"])
    assert main(["--once", "--json", "--nvml-raw", "--collectors", "nvml", "--node", "gpu-node-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nvml_raw"] == nvml_capture["nvml_raw"]
    assert out["devices"] == gpu_devices(nvml_capture)
    assert out["collectors"] == {"nvml": "ok"} and out["node"] == "gpu-node-01"


def test_clock_event_reasons_decode():
    assert decode_clock_event_reasons(0) == []
    assert decode_clock_event_reasons(pynvml.nvmlClocksEventReasonSwPowerCap) == ["sw_power_cap"]
    mask = (pynvml.nvmlClocksEventReasonGpuIdle | pynvml.nvmlClocksEventReasonHwThermalSlowdown
            | pynvml.nvmlClocksEventReasonSwThermalSlowdown | pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown
            | pynvml.nvmlClocksEventReasonSyncBoost | pynvml.nvmlClocksEventReasonHwSlowdown
            | pynvml.nvmlClocksEventReasonApplicationsClocksSetting
            | pynvml.nvmlClocksEventReasonDisplayClockSetting | 0x800)
    assert decode_clock_event_reasons(mask) == [
        "gpu_idle", "applications_clocks_setting", "hw_slowdown", "sync_boost", "sw_thermal_slowdown",
        "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clocks_setting", "unknown_0x800",
    ]


def test_replaying_restores_the_real_module(nvml_capture):
    real_init, real_power = pynvml.nvmlInit, pynvml.nvmlDeviceGetPowerUsage
    with replaying(nvml_capture["nvml_raw"]) as state:
        assert NvmlCollector().collect(NOW).devices == gpu_devices(nvml_capture)
        assert state.init_calls == 1
    assert (pynvml.nvmlInit, pynvml.nvmlDeviceGetPowerUsage) == (real_init, real_power)

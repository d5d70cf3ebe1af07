"""sysfs collector (hwmon + RAPL) against a fake tree under tmp_path."""

from __future__ import annotations

import logging

import pytest

from microdc.agent.collectors import sysfs as sysfs_module
from microdc.agent.collectors.sysfs import SysfsCollector
from microdc.agent.counters import CounterRate

NOW = 1_800_000_000.0
RAPL_RANGE_UJ = 262_143_328_850  # a real package-0 max_energy_range_uj


def by_key(sensors):
    return {(s["source"], s["chip"], s["name"]): s["metrics"] for s in sensors}


def test_hwmon_units_labels_and_chips(sysfs_tree, validate_sample):
    sysfs_tree.hwmon("coretemp", {"temp1_input": 51000, "temp1_label": "Package id 0",
                                  "temp2_input": 47500, "temp2_label": "Core 0"}, device="coretemp.0")
    sysfs_tree.hwmon("amdgpu", {"temp1_input": 38000, "temp1_label": "edge",
                                "power1_average": 187_250_000, "power1_label": "PPT",
                                "energy1_input": 123_456_789_000, "energy1_label": "PPT",
                                "fan1_input": 1200})
    sysfs_tree.hwmon("nvme", {"temp1_input": 41850})  # no label: the channel names it
    collector = SysfsCollector(sysfs_tree.root)
    sensors = collector.collect(NOW).sensors
    got = by_key(sensors)
    assert got == {
        ("hwmon", "coretemp", "Package id 0"): {"temperature_celsius": pytest.approx(51.0)},
        ("hwmon", "coretemp", "Core 0"): {"temperature_celsius": pytest.approx(47.5)},
        ("hwmon", "amdgpu", "edge"): {"temperature_celsius": pytest.approx(38.0)},
        ("hwmon", "amdgpu", "PPT"): {"power_watts": pytest.approx(187.25), "energy_joules": pytest.approx(123456.789)},
        ("hwmon", "nvme", "temp1"): {"temperature_celsius": pytest.approx(41.85)},
    }
    assert collector.status == "ok"
    assert all(s["simulated"] is False for s in sensors)
    validate_sample({"ts": "2026-11-27T03:40:00.000000+00:00", "devices": [], "sensors": sensors})


def test_power_input_wins_over_average(sysfs_tree):
    sysfs_tree.hwmon("amdgpu", {"power1_input": 250_000_000, "power1_average": 180_000_000})
    assert by_key(SysfsCollector(sysfs_tree.root).collect(NOW).sensors) == {
        ("hwmon", "amdgpu", "power1"): {"power_watts": pytest.approx(250.0)}}


def test_chips_sharing_a_driver_are_told_apart_by_device(sysfs_tree):
    sysfs_tree.hwmon("coretemp", {"temp1_input": 50000, "temp1_label": "Package id 0"}, device="coretemp.0")
    sysfs_tree.hwmon("coretemp", {"temp1_input": 60000, "temp1_label": "Package id 1"}, device="coretemp.1")
    got = by_key(SysfsCollector(sysfs_tree.root).collect(NOW).sensors)
    assert got == {
        ("hwmon", "coretemp-coretemp.0", "Package id 0"): {"temperature_celsius": pytest.approx(50.0)},
        ("hwmon", "coretemp-coretemp.1", "Package id 1"): {"temperature_celsius": pytest.approx(60.0)},
    }


def test_unreadable_sensor_is_left_out_and_the_rest_kept(sysfs_tree):
    chip = sysfs_tree.hwmon("k10temp", {"temp1_input": 55000, "temp1_label": "Tctl",
                                        "temp3_input": 44000, "temp3_label": "Tccd1"})
    collector = SysfsCollector(sysfs_tree.root)
    assert len(collector.collect(NOW).sensors) == 2
    (chip / "temp3_input").write_text("garbage\n")
    assert by_key(collector.collect(NOW + 1).sensors) == {
        ("hwmon", "k10temp", "Tctl"): {"temperature_celsius": pytest.approx(55.0)}}
    (chip / "temp3_input").unlink()  # sensor vanished between scans
    assert list(by_key(collector.collect(NOW + 2).sensors)) == [("hwmon", "k10temp", "Tctl")]


def test_rapl_energy_counter_and_power_across_wraparound(sysfs_tree, validate_sample):
    zone = sysfs_tree.rapl("intel-rapl:0", "package-0", RAPL_RANGE_UJ - 400_000_000, RAPL_RANGE_UJ)
    sub = sysfs_tree.rapl("intel-rapl:0:0", "core", 5_000_000_000, RAPL_RANGE_UJ)
    collector = SysfsCollector(sysfs_tree.root)
    first = by_key(collector.collect(NOW).sensors)
    assert first[("rapl", "intel-rapl:0", "package-0")] == {"energy_joules": pytest.approx(RAPL_RANGE_UJ / 1e6 - 400)}
    assert "power_watts" not in first[("rapl", "intel-rapl:0:0", "core")], "no rate from a single reading"
    # 10 s at 100 W: the package counter passes its range and starts again from 0
    (zone / "energy_uj").write_text(f"{600_000_000}\n")
    (sub / "energy_uj").write_text(f"{5_000_000_000 + 350_000_000}\n")
    sensors = collector.collect(NOW + 10).sensors
    second = by_key(sensors)
    assert second[("rapl", "intel-rapl:0", "package-0")] == {
        "energy_joules": pytest.approx(600.0), "power_watts": pytest.approx(100.0)}
    assert second[("rapl", "intel-rapl:0:0", "core")]["power_watts"] == pytest.approx(35.0)
    validate_sample({"ts": "2026-11-27T03:40:00.000000+00:00", "devices": [], "sensors": sensors})


def test_counter_reset_without_range_gives_no_rate():
    rates = CounterRate()
    assert rates.update("x", 0.0, 1000.0) is None
    assert rates.update("x", 10.0, 3000.0) == pytest.approx(200.0)
    assert rates.update("x", 20.0, 50.0) is None  # reset (reboot), no declared range: no guess
    assert rates.update("x", 30.0, 250.0) == pytest.approx(20.0)
    assert rates.update("x", 30.0, 300.0) is None  # no time passed
    assert rates.update("x", 40.0, 5.0, wrap_range=305.0) == pytest.approx(1.0)  # 300 -> 305 == 0 -> 5


def test_rapl_permission_denied_is_reported_once(sysfs_tree, monkeypatch, caplog):
    """Since Linux 5.10 energy_uj is root-only; the tests run as root, so EACCES is raised at the read."""
    sysfs_tree.rapl("intel-rapl:0", "package-0", 1_000_000, RAPL_RANGE_UJ)
    sysfs_tree.hwmon("coretemp", {"temp1_input": 50000, "temp1_label": "Package id 0"})
    real_read = sysfs_module._read_number

    def read(path):
        if path.endswith("/energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(sysfs_module, "_read_number", read)
    collector = SysfsCollector(sysfs_tree.root)
    with caplog.at_level(logging.WARNING, logger="microdc.agent"):
        for i in range(3):
            sensors = collector.collect(NOW + i).sensors
    assert [s["source"] for s in sensors] == ["hwmon"]
    assert collector.status.startswith("degraded: RAPL energy_uj not readable (permission denied")
    assert len([r for r in caplog.records if "RAPL" in r.getMessage()]) == 1


def test_empty_tree_is_unavailable_with_the_path(tmp_path):
    collector = SysfsCollector(tmp_path / "nothing")
    assert collector.collect(NOW).sensors == []
    assert collector.status == f"unavailable: no hwmon sensors or RAPL zones under {tmp_path / 'nothing'}/class"


def test_new_chips_appear_after_a_rescan(sysfs_tree):
    sysfs_tree.hwmon("coretemp", {"temp1_input": 50000})
    collector = SysfsCollector(sysfs_tree.root)
    assert len(collector.collect(NOW).sensors) == 1
    sysfs_tree.hwmon("nvme", {"temp1_input": 40000, "temp1_label": "Composite"})
    assert len(collector.collect(NOW + 1).sensors) == 1  # discovery is cached between rescans
    sensors = collector.collect(NOW + SysfsCollector.RESCAN_SECONDS + 1).sensors
    assert ("hwmon", "nvme", "Composite") in by_key(sensors)

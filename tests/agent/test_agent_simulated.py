"""Physics of the simulated GPUs: power capped at the limit, temperature lagging power with its time
constant, the energy counter as the integral of power, determinism from seed and time."""

from __future__ import annotations

import math

import pytest

from microdc.agent.collectors.simulated import SLOT_SECONDS, SimulatedCollector

T0 = 1_800_000_000.0  # slot-aligned start


def run(collector, start, seconds, step):
    """[(t, device dict of GPU 0)] sampled every ``step`` seconds."""
    out = []
    n = int(round(seconds / step))
    for i in range(n + 1):
        t = start + i * step
        out.append((t, collector.collect(t).devices[0]))
    return out


def test_power_stays_under_the_limit_and_reaches_it_under_load():
    collector = SimulatedCollector(gpus=4, seed=7, node="sim-a")
    capped = idle = 0
    for i in range(0, 3600, 2):
        for dev in collector.collect(T0 + i).devices:
            m = dev["metrics"]
            assert 0 < m["power_watts"] <= m["power_limit_watts"]
            assert 0.0 <= m["utilization_ratio"] <= 1.0
            assert 0 < m["memory_used_bytes"] <= m["memory_total_bytes"]
            if "sw_power_cap" in dev["throttle_reasons"]:
                assert m["power_watts"] == pytest.approx(m["power_limit_watts"])
                capped += 1
            if "gpu_idle" in dev["throttle_reasons"]:
                idle += 1
    assert capped > 0 and idle > 0, "an hour of bursty load should both hit the power cap and idle"


def test_temperature_follows_a_power_step_with_the_thermal_time_constant():
    step_at = T0 + 600  # idle for 10 minutes, then full load

    def util(index, t):
        return 1.0 if t >= step_at else 0.0

    collector = SimulatedCollector(gpus=1, seed=1, node="sim-a", utilization=util)
    gpu = collector.gpus[0]
    tau = gpu.tau_seconds
    assert 30 <= tau <= 60
    before = collector.collect(step_at - 1).devices[0]["metrics"]
    t_idle = before["temperature_celsius"]
    at_step = collector.collect(step_at + 0.001).devices[0]["metrics"]
    assert at_step["power_watts"] == pytest.approx(at_step["power_limit_watts"])  # power jumps at once
    assert at_step["temperature_celsius"] == pytest.approx(t_idle, abs=0.05)  # temperature does not
    t_final = gpu.ambient_celsius + gpu.r_th * at_step["power_limit_watts"]
    after_tau = collector.collect(step_at + tau).devices[0]["metrics"]
    fraction = (after_tau["temperature_celsius"] - t_idle) / (t_final - t_idle)
    assert fraction == pytest.approx(1 - math.exp(-1), abs=0.01)  # first-order lag: 63 % after one tau
    # the HBM, with its longer time constant, lags more
    hbm_idle = before["memory_temperature_celsius"]
    hbm_final = (gpu.ambient_celsius + gpu.model.hbm_offset_celsius
                 + gpu.model.hbm_r_th_celsius_per_watt * at_step["power_limit_watts"])
    hbm_fraction = (after_tau["memory_temperature_celsius"] - hbm_idle) / (hbm_final - hbm_idle)
    assert hbm_fraction == pytest.approx(1 - math.exp(-tau / gpu.hbm_tau_seconds), abs=0.01)
    assert hbm_fraction < fraction
    after_5tau = collector.collect(step_at + 5 * tau).devices[0]["metrics"]["temperature_celsius"]
    assert after_5tau == pytest.approx(t_final, abs=0.01 * (t_final - t_idle))


def test_energy_counter_is_the_integral_of_power():
    collector = SimulatedCollector(gpus=1, seed=3, node="sim-a")
    samples = run(collector, T0 + 0.25, 1800, 0.5)
    energies = [d["metrics"]["energy_joules"] for _, d in samples]
    assert all(b >= a for a, b in zip(energies, energies[1:], strict=False)), "energy counter went backwards"
    trapezoid = sum((t2 - t1) * (d1["metrics"]["power_watts"] + d2["metrics"]["power_watts"]) / 2
                    for (t1, d1), (t2, d2) in zip(samples, samples[1:], strict=False))
    counted = energies[-1] - energies[0]
    assert counted == pytest.approx(trapezoid, rel=0.01)
    assert counted > 70 * 1800  # at least idle power all along


def test_energy_counter_is_exact_at_slot_boundaries():
    """Power is constant within a slot, so the left Riemann sum at slot starts is the exact integral."""
    collector = SimulatedCollector(gpus=1, seed=3, node="sim-a")
    samples = run(collector, T0, 1800, SLOT_SECONDS)
    riemann = sum((t2 - t1) * d1["metrics"]["power_watts"]
                  for (t1, d1), (t2, _) in zip(samples, samples[1:], strict=False))
    counted = samples[-1][1]["metrics"]["energy_joules"] - samples[0][1]["metrics"]["energy_joules"]
    assert counted == pytest.approx(riemann, abs=0.01 * len(samples))  # only the mW / mJ rounding differs


def test_state_does_not_depend_on_how_often_it_is_sampled():
    dense = SimulatedCollector(gpus=2, seed=11, node="sim-b")
    sparse = SimulatedCollector(gpus=2, seed=11, node="sim-b")
    for i in range(0, 900):
        dense.collect(T0 + i * 1.0)
    sparse.collect(T0)
    end = T0 + 899.0
    for da, db in zip(dense.collect(end).devices, sparse.collect(end).devices, strict=True):
        assert da["metrics"].keys() == db["metrics"].keys()
        for key, value in da["metrics"].items():  # equal up to float summation order
            assert value == pytest.approx(db["metrics"][key], rel=1e-9, abs=0.002), key
        assert {k: v for k, v in da.items() if k != "metrics"} == {k: v for k, v in db.items() if k != "metrics"}


def test_deterministic_from_seed_node_and_time():
    def trace(seed, node):
        c = SimulatedCollector(gpus=3, seed=seed, node=node)
        return [c.collect(T0 + i * 5).devices for i in range(120)]

    assert trace(42, "sim-a") == trace(42, "sim-a")
    assert trace(42, "sim-a") != trace(43, "sim-a")
    assert trace(42, "sim-a") != trace(42, "sim-b")


def test_devices_are_labelled_simulated_with_stable_distinct_uuids(validate_sample):
    a = SimulatedCollector(gpus=4, seed=5, node="sim-a").collect(T0).devices
    b = SimulatedCollector(gpus=4, seed=5, node="sim-a").collect(T0 + 100).devices
    uuids = [d["uuid"] for d in a]
    assert uuids == [d["uuid"] for d in b]
    assert len(set(uuids)) == 4 and all(u.startswith("GPU-SIM-") for u in uuids)
    assert all(d["simulated"] is True and "Simulated" in d["name"] for d in a)
    assert [d["index"] for d in a] == [0, 1, 2, 3]
    assert "fan_speed_ratio" not in a[0]["metrics"], "an SXM board has no fan: the field is absent"
    validate_sample({"ts": "2026-11-27T03:40:00.000000+00:00", "devices": a, "sensors": []})


def test_memory_used_follows_load():
    collector = SimulatedCollector(gpus=1, seed=9, node="sim-a")
    points = [(d["metrics"]["utilization_ratio"], d["metrics"]["memory_used_bytes"])
              for _, d in run(collector, T0, 1200, 2.0)]
    busy = [m for u, m in points if u > 0.5]
    quiet = [m for u, m in points if u < 0.05]
    assert busy and quiet
    assert min(busy) > max(quiet)


def test_clock_stepping_back_never_runs_the_energy_counter_backwards():
    collector = SimulatedCollector(gpus=1, seed=2, node="sim-a")
    e1 = collector.collect(T0 + 100).devices[0]["metrics"]["energy_joules"]
    e2 = collector.collect(T0 + 50).devices[0]["metrics"]["energy_joules"]
    e3 = collector.collect(T0 + 200).devices[0]["metrics"]["energy_joules"]
    assert e1 <= e2 <= e3


# -- model-server processes (contract B) ---------------------------------------------------------------


def _process_sensors(result):
    return {(s["chip"], s["name"]): s for s in result.sensors if s["source"] == "nvml-process"}


def test_processes_drive_the_gpu_and_report_one_sensor_per_gpu_and_unit(validate_sample):
    chat_busy_until = T0 + 60

    def chat(t):
        return 0.5 if t < chat_busy_until else 0.0

    processes = {0: [("microdc-model-chat", chat), ("microdc-model-embed", lambda t: 0.25)],
                 1: [("microdc-model-chat", lambda t: 0.8)]}
    collector = SimulatedCollector(gpus=3, seed=4, node="sim-a", processes=processes)
    uuids = [gpu.uuid for gpu in collector.gpus]

    busy = collector.collect(T0 + 10)
    sensors = _process_sensors(busy)
    assert set(sensors) == {(uuids[0], "microdc-model-chat"), (uuids[0], "microdc-model-embed"),
                            (uuids[1], "microdc-model-chat")}
    assert all(s["simulated"] is True and set(s["metrics"]) == {"sm_utilization_ratio"} for s in sensors.values())
    assert sensors[(uuids[0], "microdc-model-chat")]["metrics"]["sm_utilization_ratio"] == 0.5
    assert sensors[(uuids[0], "microdc-model-embed")]["metrics"]["sm_utilization_ratio"] == 0.25
    gpu = {d["index"]: d["metrics"] for d in busy.devices}
    assert gpu[0]["utilization_ratio"] == pytest.approx(0.75)  # the sum of its processes
    assert gpu[1]["utilization_ratio"] == pytest.approx(0.8)
    validate_sample({"ts": "2026-11-27T03:40:00.000000+00:00", "devices": busy.devices, "sensors": busy.sensors})

    quiet = collector.collect(T0 + 120)
    assert _process_sensors(quiet)[(uuids[0], "microdc-model-chat")]["metrics"]["sm_utilization_ratio"] == 0.0
    quiet_gpu = {d["index"]: d["metrics"] for d in quiet.devices}
    assert quiet_gpu[0]["utilization_ratio"] == pytest.approx(0.25)
    assert quiet_gpu[0]["power_watts"] < gpu[0]["power_watts"], "power follows the processes' load"


def test_a_gpu_without_processes_keeps_its_own_load():
    plain = SimulatedCollector(gpus=2, seed=8, node="sim-a")
    mixed = SimulatedCollector(gpus=2, seed=8, node="sim-a", processes={0: [("microdc-model-x", lambda t: 1.0)]})
    for i in range(0, 600, 7):
        a, b = plain.collect(T0 + i), mixed.collect(T0 + i)
        assert a.devices[1] == b.devices[1]
        assert b.devices[0]["metrics"]["utilization_ratio"] == 1.0
        assert [s["chip"] for s in b.sensors] == [mixed.gpus[0].uuid]
    assert plain.collect(T0 + 700).sensors == [], "no processes, no process sensors"


def test_the_gpu_sum_is_capped_and_one_unit_named_twice_is_summed():
    processes = {0: [("microdc-model-a", lambda t: 0.7), ("microdc-model-a", lambda t: 0.2),
                     ("microdc-model-b", lambda t: 0.6), ("microdc-model-c", lambda t: 1.5)]}
    result = SimulatedCollector(gpus=1, seed=1, node="sim-a", processes=processes).collect(T0)
    values = {s["name"]: s["metrics"]["sm_utilization_ratio"] for s in result.sensors}
    assert values == {"microdc-model-a": pytest.approx(0.9), "microdc-model-b": 0.6, "microdc-model-c": 1.0}
    assert result.devices[0]["metrics"]["utilization_ratio"] == 1.0


def test_processes_are_evaluated_at_the_gpus_slot_start():
    seen = []

    def util(t):
        seen.append(t)
        return 0.4

    SimulatedCollector(gpus=1, seed=1, node="sim-a", processes={0: [("microdc-model-a", util)]}).collect(T0 + 1.3)
    assert seen and set(seen) == {T0}


def test_an_explicit_utilization_still_reports_the_processes():
    collector = SimulatedCollector(gpus=1, seed=1, node="sim-a", utilization=lambda i, t: 0.9,
                                   processes={0: [("microdc-model-a", lambda t: 0.3)]})
    result = collector.collect(T0)
    assert result.devices[0]["metrics"]["utilization_ratio"] == 0.9
    assert result.sensors[0]["metrics"]["sm_utilization_ratio"] == 0.3


def test_processes_on_a_gpu_the_simulator_lacks_are_refused():
    with pytest.raises(ValueError, match=r"GPU indices \[2\].*GPUs 0\.\.1"):
        SimulatedCollector(gpus=2, processes={2: [("microdc-model-a", lambda t: 0.3)]})

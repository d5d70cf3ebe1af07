"""A power cap slows the simulated GPU and the simulated model server with it, along a curve that gives energy
per generated token a real minimum between the device's limits."""

import re

import pytest

from microdc.agent.collectors.simulated import SimulatedCollector, clock_under, power_share, speed_of
from microdc.simulator.inference_load import DeploymentLoad, LoadProfile
from microdc.simulator.model_server import SimulatedModelServer

# More requests than the server can take at full clock: what it serves is set by its GPU's speed.
SATURATED = LoadProfile(peak_rps=8.0, night_share=1.0, burst_chance=0.0, quiet_chance=0.0, capacity_rps=4.0)


def generated(page: str) -> float:
    return float(re.search(r"^vllm:generation_tokens_total\{[^}]*\} (\S+)$", page, re.M).group(1))


def test_the_clock_curve_inverts_the_power_curve():
    for r in (0.1, 0.5, 0.9):
        assert clock_under(power_share(r)) == pytest.approx(r, abs=1e-6)
    assert clock_under(0.1) == 0.0 and clock_under(1.2) == 1.0


def run_at(cap: float, start: float, seconds: float = 300.0) -> dict:
    """One cap over the same stretch of the same load (so the load's own noise is alike for every cap)."""
    now = [start]
    sim = SimulatedCollector(gpus=1, seed=4, node="n", utilization=lambda i, t: 1.0)
    uuid = sim.gpus[0].uuid
    server = SimulatedModelServer(DeploymentLoad("sweep", profile=SATURATED), "simulated-test", clock=lambda: now[0],
                                  started=start, speed=lambda: speed_of(uuid))
    try:
        sim.apply_power_limits({uuid: float(cap)}, now[0])
        before = sim.collect(now[0]).devices[0]["metrics"]["energy_joules"], generated(server.page())
        for _ in range(int(seconds / 10)):  # scraped every 10 s, as the appliance does
            now[0] += 10
            after = sim.collect(now[0]).devices[0]["metrics"]["energy_joules"], generated(server.page())
    finally:
        server.httpd.server_close()
    joules, tokens = after[0] - before[0], after[1] - before[1]
    return {"tokens_per_second": tokens / seconds, "joules_per_token": joules / tokens}


def test_a_cap_lowers_tokens_per_second_and_joules_per_token_has_an_interior_minimum():
    curve = {cap: run_at(cap, 1_800_000_000.0) for cap in (700, 600, 500, 400, 300, 200)}
    rates = [curve[c]["tokens_per_second"] for c in sorted(curve)]
    assert rates == sorted(rates), f"tokens/s must grow with the cap: {curve}"
    best = min(curve, key=lambda c: curve[c]["joules_per_token"])
    assert 200 < best < 700, f"energy per token should be lowest between the limits: {curve}"
    assert curve[best]["joules_per_token"] < 0.85 * curve[700]["joules_per_token"]

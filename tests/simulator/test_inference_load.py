"""The simulated load: its counters' exact sums equal integrating the rate in small steps."""

import math

import pytest

from microdc.simulator.inference_load import E2E_BUCKETS, SLOT_SECONDS, TTFT_BUCKETS, DeploymentLoad, LoadProfile

T0 = 1_800_000_000.0  # a fixed instant: the load is a function of absolute time


def _integrate(load: DeploymentLoad, start: float, end: float, step: float = 0.25) -> dict[str, float]:
    """Sum rate x per-request means over `step`-second pieces (each inside one slot), the slow way."""
    out = {"requests": 0.0, "prompt": 0.0, "generation": 0.0}
    t = start
    while t < end:
        dt = min(step, end - t)
        slot = load.slot(math.floor((t + dt / 2) / SLOT_SECONDS))
        n = slot.rate * dt
        out["requests"] += n
        out["prompt"] += n * slot.prompt_tokens
        out["generation"] += n * slot.generation_tokens
        t += dt
    return out


def test_closed_form_equals_summing_small_steps():
    load = DeploymentLoad("chat", seed=3)
    since, t = T0 + 17.5, T0 + 5 * 3600 + 42.25  # neither on a slot boundary
    totals = load.totals(t, since=since)
    slow = _integrate(load, since, t)
    assert slow["requests"] > 1000
    assert totals.requests == pytest.approx(slow["requests"], rel=1e-9)
    assert totals.prompt_tokens == pytest.approx(slow["prompt"], rel=1e-9)
    assert totals.generation_tokens == pytest.approx(slow["generation"], rel=1e-9)


def test_counters_are_monotonic_and_histograms_cumulative():
    load = DeploymentLoad("code")
    previous = None
    for k in range(0, 3 * 3600, 37):
        totals = load.totals(T0 + k, since=T0)
        assert totals.e2e_buckets == sorted(totals.e2e_buckets)
        assert totals.ttft_buckets == sorted(totals.ttft_buckets)
        assert totals.e2e_buckets[-1] <= totals.requests + 1e-9
        assert len(totals.e2e_buckets) == len(E2E_BUCKETS) and len(totals.ttft_buckets) == len(TTFT_BUCKETS)
        if previous is not None:
            assert totals.requests >= previous.requests
            assert all(a >= b for a, b in zip(totals.e2e_buckets, previous.e2e_buckets, strict=True))
        previous = totals


def test_same_answer_in_any_order_and_from_any_object():
    since = T0
    late_first = DeploymentLoad("chat")
    late_first.totals(since + 7200, since=since)
    fresh = DeploymentLoad("chat")
    assert fresh.totals(since + 600.5, since=since) == late_first.totals(since + 600.5, since=since)


def test_day_curve_quiet_nights_and_utilization_follow_the_rate():
    load = DeploymentLoad("chat", profile=LoadProfile(peak_rps=2.0, capacity_rps=4.0, peak_hour_utc=14))
    day = math.floor(T0 / 86400) * 86400
    afternoon = [load.rate(day + 14 * 3600 + 60 * i) for i in range(60)]
    night = [load.rate(day + 2 * 3600 + 60 * i) for i in range(60)]
    assert sum(afternoon) > 4 * sum(night)
    assert any(r == 0 for r in night)  # idle minutes exist
    assert all(load.utilization(day + 2 * 3600 + 60 * i) == 0 for i, r in enumerate(night) if r == 0)
    busy = day + 14 * 3600 + 60 * afternoon.index(max(afternoon))
    assert 0.3 < load.utilization(busy) <= 1.0

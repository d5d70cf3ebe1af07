"""A deterministic request load for one simulated model-server deployment (SIMULATED, for the demo and tests).

Time is cut into 60 s slots. In each slot the request rate is constant: a day curve (busiest in the
afternoon, low at night), a little noise, the odd burst, and quiet night slots with no request at all (so
idle minutes exist). Each slot also has its own mean prompt and generated tokens per request and its own
latency and time-to-first-token distributions (lognormal, slower when the server is busier).

Every counter is the integral of "rate x per-request quantity" over time, so its value at any instant is
an exact sum: whole slots from a prefix table plus the part of the current slot. That lets the demo
render a metrics page for any past instant (the backfill) and a live page now from the same numbers. The
same rate drives the simulated GPUs: `utilization(t)` is what the server's process uses of each GPU.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from microdc.agent.collectors.simulated import _splitmix64

SLOT_SECONDS = 60
# vLLM's own bucket bounds (vllm/v1/metrics/loggers.py) for the two histograms the adapter reads.
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
               240.0, 480.0, 960.0, 1920.0, 7680.0)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
# How finished requests end: vLLM's finished_reason label ("abort" is a failure to the adapter).
FINISHED_REASONS = (("stop", 0.86), ("length", 0.13), ("abort", 0.01))
E2E_SIGMA = 0.45
TTFT_SIGMA = 0.6


def _unit(key: int, stream: int, n: int) -> float:
    """Uniform [0, 1) for (load key, stream, slot), random access in O(1)."""
    return _splitmix64(key ^ _splitmix64((stream << 48) ^ (n & ((1 << 48) - 1)))) / 2.0**64


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf((math.log(x) - math.log(median)) / (sigma * math.sqrt(2.0))))


@dataclass(frozen=True)
class LoadProfile:
    peak_rps: float = 2.0  # requests per second at the busiest hour
    night_share: float = 0.12  # rate at the quietest hour, as a share of the peak
    peak_hour_utc: float = 14.0
    burst_chance: float = 0.05  # share of slots with a burst
    burst_factor: float = 2.2
    quiet_chance: float = 0.35  # share of quiet-hour slots with no request at all
    prompt_tokens: float = 650.0  # mean per request
    generation_tokens: float = 240.0
    decode_tokens_per_second: float = 45.0  # per request, unloaded
    base_ttft_seconds: float = 0.12
    capacity_rps: float = 4.0  # the rate at which the server's GPUs are fully busy
    rate_noise: float = 0.2  # each slot's rate within +-20% of the day curve
    token_noise: float = 0.3  # each slot's mean tokens per request within +-30%


@dataclass(frozen=True)
class Slot:
    """What one 60 s slot holds: its constant rate and per-request means."""

    start: float
    rate: float
    prompt_tokens: float
    generation_tokens: float
    e2e_median: float
    ttft_median: float


@dataclass
class Totals:
    """Cumulative counters since the server started (expected values; pages show them floored)."""

    by_reason: dict[str, float]
    prompt_tokens: float
    generation_tokens: float
    e2e_sum: float
    ttft_sum: float
    e2e_buckets: list[float]  # cumulative per bound of E2E_BUCKETS (requests at or under it)
    ttft_buckets: list[float]

    @property
    def requests(self) -> float:
        return sum(self.by_reason.values())


def _vector(slot: Slot, seconds: float) -> list[float]:
    """The increase of every counter over `seconds` inside `slot`, in Totals field order."""
    n = slot.rate * seconds
    e2e_mean = slot.e2e_median * math.exp(E2E_SIGMA**2 / 2)
    ttft_mean = slot.ttft_median * math.exp(TTFT_SIGMA**2 / 2)
    out = [n * share for _, share in FINISHED_REASONS]
    out += [n * slot.prompt_tokens, n * slot.generation_tokens, n * e2e_mean, n * ttft_mean]
    out += [n * _lognormal_cdf(le, slot.e2e_median, E2E_SIGMA) for le in E2E_BUCKETS]
    out += [n * _lognormal_cdf(le, slot.ttft_median, TTFT_SIGMA) for le in TTFT_BUCKETS]
    return out


@dataclass
class DeploymentLoad:
    """The load of one deployment, from (name, seed): the same numbers in every process that asks."""

    name: str
    seed: int = 0
    profile: LoadProfile = field(default_factory=LoadProfile)

    def __post_init__(self) -> None:
        self.key = int.from_bytes(hashlib.blake2b(f"{self.seed}/{self.name}".encode(), digest_size=8).digest(),
                                  "big")
        self._first: int | None = None  # slot index of _prefix[0]
        self._prefix: list[list[float]] = []  # _prefix[i]: totals from slot _first up to slot _first + i

    # -- the per-slot model -------------------------------------------------------------------------

    def day_shape(self, t: float) -> float:
        """0..1: the share of the peak rate the hour of day brings (cosine around the peak hour)."""
        hours = (t % 86400) / 3600.0
        p = self.profile
        return p.night_share + (1 - p.night_share) * 0.5 * (1 + math.cos(2 * math.pi * (hours - p.peak_hour_utc) / 24))

    def slot(self, index: int) -> Slot:
        p, k = self.profile, self.key
        start = index * SLOT_SECONDS
        shape = self.day_shape(start + SLOT_SECONDS / 2)
        rate = p.peak_rps * shape * (1 - p.rate_noise + 2 * p.rate_noise * _unit(k, 1, index))
        if _unit(k, 2, index) < p.burst_chance:
            rate *= p.burst_factor
        if shape < 0.3 and _unit(k, 3, index) < p.quiet_chance:
            rate = 0.0
        load = min(1.0, rate / p.capacity_rps)
        prompt = p.prompt_tokens * (1 - p.token_noise + 2 * p.token_noise * _unit(k, 4, index))
        generated = p.generation_tokens * (1 - p.token_noise + 2 * p.token_noise * _unit(k, 5, index))
        ttft = p.base_ttft_seconds * (1 + 3 * load**2) * (prompt / p.prompt_tokens)
        e2e = ttft + generated / p.decode_tokens_per_second * (1 + 0.8 * load)
        return Slot(start, rate, prompt, generated, e2e, ttft)

    def rate(self, t: float) -> float:
        """Requests per second at `t`."""
        return self.slot(math.floor(t / SLOT_SECONDS)).rate

    def utilization(self, t: float) -> float:
        """The SM utilization (0..1) the server's process causes on each GPU it runs on at `t`."""
        rate = self.rate(t)
        return 0.0 if rate == 0 else min(1.0, 0.05 + 0.95 * rate / self.profile.capacity_rps)

    # -- cumulative counters ------------------------------------------------------------------------

    def _ensure(self, first: int, last: int) -> None:
        """Make the prefix table cover slots first..last (rebuilt from further back when asked earlier)."""
        if self._first is None or first < self._first:
            self._first, self._prefix = first, [[0.0] * (len(FINISHED_REASONS) + 4 + len(E2E_BUCKETS)
                                                        + len(TTFT_BUCKETS))]
        while self._first + len(self._prefix) - 1 < last:
            index = self._first + len(self._prefix) - 1
            self._prefix.append([a + b for a, b in zip(self._prefix[-1], _vector(self.slot(index), SLOT_SECONDS),
                                                        strict=True)])

    def _absolute(self, t: float, origin: int) -> list[float]:
        index = math.floor(t / SLOT_SECONDS)
        self._ensure(origin, index)
        whole = self._prefix[index - self._first]
        slot = self.slot(index)
        return [a + b for a, b in zip(whole, _vector(slot, t - slot.start), strict=True)]

    def increase(self, t0: float, t1: float, origin: float) -> list[float]:
        """Every counter's increase from t0 to t1 (a vector in Totals field order)."""
        first = math.floor(origin / SLOT_SECONDS)
        end, begin = self._absolute(max(t0, t1), first), self._absolute(t0, first)
        return [a - b for a, b in zip(end, begin, strict=True)]

    def totals(self, t: float, since: float, lost: list[float] | None = None) -> Totals:
        """Counters at `t` of a server that started at `since` (zero before it), less what it could not serve
        (`lost`, a vector from `increase`)."""
        v = self.increase(since, max(t, since), since)
        if lost is not None:
            v = [a - b for a, b in zip(v, lost, strict=True)]
        r = len(FINISHED_REASONS)
        e = r + 4 + len(E2E_BUCKETS)
        return Totals(by_reason={name: v[i] for i, (name, _) in enumerate(FINISHED_REASONS)},
                      prompt_tokens=v[r], generation_tokens=v[r + 1], e2e_sum=v[r + 2], ttft_sum=v[r + 3],
                      e2e_buckets=v[r + 4:e], ttft_buckets=v[e:])

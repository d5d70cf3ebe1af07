"""The energy-optimal cap of a deployment under steady load, found as the Zeus project does for training: step
the cap of every accelerator it holds over the devices' range, measure J per generated token and tokens/s at
each step, and propose the cap with the lowest J/token whose throughput stays above a floor (by default 90% of
the uncapped rate), or apply it when asked.

Energy comes from the accelerators' NVML energy counters, tokens from the model servers' scraped counters:
rates from each counter's own timestamps (power = sum of dJ/dt, tokens/s = sum of dtokens/dt), so scrapes and
pushes need not line up. Each step waits `warmup_seconds` (the agents apply the cap, the servers settle) before
it measures `step_seconds`. The sweep's caps are a policy cap ("tuning"), released when it ends.

The worker advances every running sweep a little each turn (`advance_sweeps`); nothing blocks.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from microdc.energy.adapters.page import GENERATION_TOKENS
from microdc.energy.models import ModelServer, Reservation
from microdc.nodes.models import Accelerator
from microdc.provisioning.models import Deployment
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source

from .caps import set_operator_limit
from .models import CapSweep, PolicyCap
from .policy_caps import caps_of, set_policy_caps

POLICY = PolicyCap.Policy.TUNING


class SweepError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def held_accelerators(deployment: Deployment) -> list[Accelerator]:
    ids = (Reservation.objects.filter(deployment=deployment, end__isnull=True, accelerator__isnull=False)
           .values_list("accelerator_id", flat=True))
    return list(Accelerator.objects.live().filter(pk__in=ids).order_by("node__hostname", "index"))


def _range(accelerators: list[Accelerator]) -> tuple[float, float]:
    """(lowest cap every accelerator takes, its default), from what their agents reported."""
    values = [s.last_values for s in Source.objects.filter(accelerator__in=accelerators)
              .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX)]
    lows = [v["power_limit_min_watts"] for v in values if "power_limit_min_watts" in v]
    defaults = [v.get("power_limit_default_watts") or v.get("power_limit_max_watts") for v in values]
    if len(lows) < len(accelerators) or None in defaults or not defaults:
        raise SweepError("deployment", "its accelerators have not reported their power limit range yet")
    return max(lows), min(defaults)


def start_sweep(deployment: Deployment, *, actor, apply: bool = False, throughput_floor: float = 0.9,
                steps: int = 6, step_seconds: int = 120, warmup_seconds: int = 20) -> CapSweep:
    if not 0 < throughput_floor <= 1:
        raise SweepError("throughput_floor", "must be above 0 and at most 1")
    if not 2 <= steps <= 20:
        raise SweepError("steps", "must be between 2 and 20")
    if not 10 <= step_seconds <= 3600 or not 0 <= warmup_seconds <= 600:
        raise SweepError("step_seconds", "step_seconds must be 10-3600 and warmup_seconds 0-600")
    accelerators = held_accelerators(deployment)
    if not accelerators:
        raise SweepError("deployment", f"{deployment.name} holds no accelerator now (is it running?)")
    if not ModelServer.objects.filter(deployment=deployment, active=True).exists():
        raise SweepError("deployment", f"{deployment.name} has no scraped model server to count its tokens")
    low, default = _range(accelerators)
    caps = [round(default - i * (default - low) / (steps - 1), 1) for i in range(steps)]
    with transaction.atomic():
        if CapSweep.objects.select_for_update().filter(deployment=deployment, status__in=CapSweep.ACTIVE).exists():
            raise SweepError("deployment", f"a sweep of {deployment.name} is already running")
        return CapSweep.objects.create(deployment=deployment, apply=apply, throughput_floor=throughput_floor,
                                       steps=steps, step_seconds=step_seconds, warmup_seconds=warmup_seconds,
                                       caps=caps, accelerators=[a.pk for a in accelerators], created_by=actor)


def _counters(sweep: CapSweep) -> dict:
    """Each counter with its own timestamp: {"gpu": {source: [joules, ts]}, "tokens": {source: [n, ts]}}."""
    gpu = {str(s.pk): [s.last_values["energy_joules"], s.last_ts.timestamp()]
           for s in Source.objects.filter(accelerator_id__in=sweep.accelerators)
           .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX) if "energy_joules" in s.last_values and s.last_ts}
    tokens = {str(s.pk): [s.last_values[GENERATION_TOKENS], s.last_ts.timestamp()]
              for s in Source.objects.filter(model_server__deployment=sweep.deployment)
              if GENERATION_TOKENS in s.last_values and s.last_ts}
    return {"gpu": gpu, "tokens": tokens}


def _rate(before: dict, after: dict) -> float | None:
    """Sum of each counter's increase per second; None when a counter reset or did not move on in time."""
    total = 0.0
    for key, (value, ts) in after.items():
        if key not in before:
            return None
        old, old_ts = before[key]
        if ts <= old_ts or value < old:
            return None
        total += (value - old) / (ts - old_ts)
    return total if after else None


def _measure(sweep: CapSweep, end: dict) -> dict:
    cap = sweep.caps[sweep.step]
    power, tokens = _rate(sweep.baseline["gpu"], end["gpu"]), _rate(sweep.baseline["tokens"], end["tokens"])
    return {"cap_watts": cap, "gpu_watts": power, "tokens_per_second": tokens,
            "joules_per_token": power / tokens if power is not None and tokens else None}


def _set_step_cap(sweep: CapSweep, now: datetime.datetime) -> None:
    cap = sweep.caps[sweep.step]
    set_policy_caps(POLICY, f"sweep/{sweep.pk}", dict.fromkeys(sweep.accelerators, cap),
                    f"cap sweep {sweep.pk} of {sweep.deployment.name}: step {sweep.step + 1} of {sweep.steps}", now)
    sweep.step_started_at, sweep.baseline = now, None


def _release(sweep: CapSweep, now: datetime.datetime) -> None:
    held = caps_of(POLICY, f"sweep/{sweep.pk}")
    set_policy_caps(POLICY, f"sweep/{sweep.pk}", dict.fromkeys(held), f"cap sweep {sweep.pk} ended", now)


def propose(results: list[dict], floor: float) -> float | None:
    """The cap with the lowest J/token among the steps keeping tokens/s at or above floor x the uncapped step's."""
    measured = [r for r in results if r["joules_per_token"] is not None]
    if not measured or not results[0]["tokens_per_second"]:
        return None
    keep = floor * results[0]["tokens_per_second"]
    fit = [r for r in measured if r["tokens_per_second"] >= keep]
    return min(fit, key=lambda r: r["joules_per_token"])["cap_watts"] if fit else None


def _finish(sweep: CapSweep, now: datetime.datetime) -> None:
    _release(sweep, now)
    sweep.finished = now
    sweep.proposed_watts = propose(sweep.results, sweep.throughput_floor)
    if sweep.proposed_watts is None:
        sweep.status, sweep.error = CapSweep.Status.FAILED, "no step could be measured (is the load steady?)"
        return
    sweep.status = CapSweep.Status.DONE
    if sweep.apply and sweep.created_by is not None:
        accelerators = list(Accelerator.objects.live().filter(pk__in=sweep.accelerators))
        set_operator_limit(accelerators, sweep.proposed_watts, actor=sweep.created_by,
                           reason=f"energy-optimal cap from sweep {sweep.pk}")
        sweep.applied = True


def advance(sweep: CapSweep, now: datetime.datetime) -> None:
    if sweep.status == CapSweep.Status.QUEUED:
        sweep.status = CapSweep.Status.RUNNING
        _set_step_cap(sweep, now)
    elif sweep.baseline is None:
        if (now - sweep.step_started_at).total_seconds() >= sweep.warmup_seconds:
            sweep.baseline = {**_counters(sweep), "at": now.timestamp()}
    elif now.timestamp() - sweep.baseline["at"] >= sweep.step_seconds:
        sweep.results = [*sweep.results, _measure(sweep, _counters(sweep))]
        if sweep.step + 1 < len(sweep.caps):
            sweep.step += 1
            _set_step_cap(sweep, now)
        else:
            _finish(sweep, now)
    sweep.save()


def advance_sweeps(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    sweeps = list(CapSweep.objects.filter(status__in=CapSweep.ACTIVE).select_related("deployment", "created_by"))
    for sweep in sweeps:
        with transaction.atomic():
            advance(sweep, now)
    return len(sweeps)


def cancel(sweep: CapSweep, now: datetime.datetime | None = None) -> None:
    now = now or timezone.now()
    with transaction.atomic():
        _release(sweep, now)
        sweep.status, sweep.finished = CapSweep.Status.CANCELLED, now
        sweep.save()

"""The accelerators a policy may cap, as shedding.Candidate: what each draws, its cap now, its range, and the
priority of the deployment holding it."""

from collections.abc import Iterable

from microdc.energy.models import Reservation
from microdc.nodes.models import Accelerator
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source

from .models import PowerLimit
from .shedding import IDLE_PRIORITY, Candidate


def candidates(accelerator_ids: Iterable[int], caps: dict[int, float] | None = None) -> list[Candidate]:
    """`caps` replaces the cap of the named accelerators (a policy raising its own caps); else the desired
    limit, or the device's default when uncapped. Accelerators whose agent never reported a range are left
    out: a cap must stay within what the device takes."""
    ids = list(accelerator_ids)
    values = {s.accelerator_id: s.last_values for s in Source.objects.filter(accelerator_id__in=ids)
              .exclude(key__startswith=MODEL_SERVER_KEY_PREFIX).only("accelerator_id", "last_values")}
    desired = {p.accelerator_id: p.desired_watts for p in PowerLimit.objects.filter(accelerator_id__in=ids)}
    priority: dict[int, int] = {}
    for accelerator_id, value in (Reservation.objects.filter(accelerator_id__in=ids, end__isnull=True)
                                  .values_list("accelerator_id", "deployment__priority")):
        priority[accelerator_id] = max(priority.get(accelerator_id, IDLE_PRIORITY), value)
    out = []
    for accelerator in Accelerator.objects.filter(pk__in=ids):
        v = values.get(accelerator.pk, {})
        default = v.get("power_limit_default_watts") or v.get("power_limit_max_watts")
        minimum = v.get("power_limit_min_watts")
        if default is None or minimum is None:
            continue
        cap = (caps or {}).get(accelerator.pk, desired.get(accelerator.pk)) or default
        out.append(Candidate(accelerator.pk, v.get("power_watts", 0.0), cap, minimum, default,
                             priority.get(accelerator.pk, IDLE_PRIORITY)))
    return out

"""Setting and clearing an operator's power cap on accelerators: validated against each device's own
constraints (as its agent reports them), all or nothing, every change recorded with who and why, and audited."""

import math
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from microdc.core import audit
from microdc.nodes.models import Accelerator

from .models import PowerLimit, PowerLimitChange
from .selectors import constraints_of

MAX_WATTS = 100_000.0


class LimitError(ValueError):
    """A cap that cannot be set; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def check_watts(watts: object) -> float | None:
    if watts is None:
        return None
    if isinstance(watts, bool) or not isinstance(watts, int | float) or not math.isfinite(watts) \
            or not 0 < watts <= MAX_WATTS:
        raise LimitError("watts", f"must be a number of watts above 0 and at most {MAX_WATTS:g}, or null")
    return float(watts)


def check_within_constraints(accelerators: Iterable[Accelerator], watts: float | None) -> None:
    if watts is None:
        return
    for accelerator in accelerators:
        low, high, _ = constraints_of(accelerator)
        if low is not None and high is not None and not low <= watts <= high:
            raise LimitError("watts", f"{watts:g} W is outside the power limits {accelerator} allows: "
                                      f"{low:g}-{high:g} W")


def set_operator_limit(accelerators: list[Accelerator], watts: object, *, actor, reason: str = "",
                       remote_addr: str | None = None) -> list[PowerLimitChange]:
    """Cap (or, with watts None, uncap) each accelerator for an operator; the desired limit is the lower of this
    and any policy's cap. Raises LimitError before anything is written."""
    watts = check_watts(watts)
    if not accelerators:
        raise LimitError("accelerators", "no accelerator to cap")
    retired = [str(a) for a in accelerators if a.retired_at is not None]
    if retired:
        raise LimitError("accelerators", f"retired: {', '.join(retired)}")
    check_within_constraints(accelerators, watts)
    if len(reason) > 300:
        raise LimitError("reason", "must be at most 300 characters")
    changes = []
    with transaction.atomic():
        for accelerator in accelerators:
            limit, _ = PowerLimit.objects.select_for_update().get_or_create(accelerator=accelerator)
            before = limit.desired_watts
            old_operator = limit.operator_watts
            limit.operator_watts = watts
            limit.updated = timezone.now()
            limit.save()
            if old_operator == watts:
                continue
            changes.append(PowerLimitChange.objects.create(
                accelerator=accelerator, actor=actor, actor_name=actor.get_username(), reason=reason,
                before_watts=before, after_watts=limit.desired_watts))
            audit.record(actor=actor, source="api", action="update", instance=limit, remote_addr=remote_addr,
                         changes={"operator_watts": {"old": old_operator, "new": watts},
                                  "desired_watts": {"old": before, "new": limit.desired_watts}})
    return changes

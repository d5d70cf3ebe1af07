"""Power policies at work: a policy holding caps on accelerators behind one limit of the room (a budget over a
breaker, a UPS on battery, a cooling unit in alarm) is an alert while it holds them, with its last action's words."""

from collections import Counter
from collections.abc import Iterator

from microdc.power.models import PolicyCap, PolicyEvent

from ..models import AlertRule
from ..snapshot import Snapshot
from .base import Observation, clean, facility_url


def policy_caps(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    held = Counter(PolicyCap.objects.exclude(policy=PolicyCap.Policy.TUNING).values_list(
        "policy", "key", "accelerator__node__rack__site__slug", "accelerator__node__rack__site"))
    for (policy, key, slug, site_id), count in sorted(held.items()):
        last = PolicyEvent.objects.filter(policy=policy, key=key).order_by("-at", "-id").first()
        words = last.summary if last else f"{policy} policy holds caps on {key}"
        yield Observation(clean({"site": slug, "policy": policy, "limit": key}), float(count),
                          f"{count} accelerator{'s' if count != 1 else ''} capped: {words}", facility_url(), site_id)
    # A limit that no longer needs caps has no caps left: its alert resolves (nothing observed for it).


BUILTIN = {"power_capped_by_policy": policy_caps}

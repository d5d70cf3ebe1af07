"""What each rule observes, per thing: one Observation per (rule, thing) with the value the rule compares.

A value of None is missing data (a silent agent, a stale meter channel): an open alert then waits in the
nodata state instead of resolving. Built-in rules dispatch by key; admin rules by scope (a metric of every
thing in it)."""

from collections.abc import Callable, Iterator

from ..models import AlertRule
from ..snapshot import Snapshot
from . import deployment, gpu, meter, node, power, site
from .base import Observation

BUILTIN: dict[str, Callable[[AlertRule, Snapshot], Iterator[Observation]]] = {
    **gpu.BUILTIN, **node.BUILTIN, **meter.BUILTIN, **site.BUILTIN, **power.BUILTIN,
}
BY_SCOPE: dict[str, Callable[[AlertRule, Snapshot], Iterator[Observation]]] = {
    AlertRule.Scope.GPU: gpu.metric, AlertRule.Scope.NODE: node.metric, AlertRule.Scope.METER: meter.metric,
    AlertRule.Scope.SITE: site.metric, AlertRule.Scope.DEPLOYMENT: deployment.metric,
}


def observe(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    if rule.builtin:
        condition = BUILTIN.get(rule.key)
        return condition(rule, snapshot) if condition else iter(())
    return BY_SCOPE[rule.scope](rule, snapshot)


__all__ = ["Observation", "observe"]

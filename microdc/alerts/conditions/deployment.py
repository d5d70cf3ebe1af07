"""Deployment conditions for admin rules: energy per generated token or per request (facility level where the
PUE is known, else the node level), carbon per 1,000 tokens, and the share of requests that failed, over the
rule's window (microdc.energy.report)."""

from collections.abc import Iterator

from .. import links
from ..models import AlertRule
from ..snapshot import Snapshot
from .base import Observation, clean, number

LEVELS = ("facility", "node", "gpu")


def _best(figures: dict) -> float | None:
    return next((figures[level] for level in LEVELS if figures.get(level) is not None), None)


def _value(result, metric: str) -> float | None:
    if metric == "error_ratio":
        return result.failed_requests / result.requests if result.requests else None
    if metric == "grams_per_1k_tokens":
        return (result.grams_per_1k_tokens or {}).get("total")
    return _best(getattr(result, metric, None) or {})


def metric(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    window = rule.window or "1h"
    for result in snapshot.deployments(window):
        deployment = result.deployment
        value = _value(result, rule.metric)
        yield Observation(clean({"deployment": deployment["name"], "window": window,
                                 "simulated": "true" if result.simulated else ""}), value,
                          f"{deployment['name']}: {rule.metric} {number(value)} over {window}",
                          links.deployment(deployment["id"]), None)

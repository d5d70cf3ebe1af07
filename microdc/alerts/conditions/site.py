"""Site conditions: PUE incomplete (from energy, ISO/IEC 30134-2: missing or stale meters make it incomplete,
never a guess) and PUE above the site's target."""

from collections.abc import Iterator

from ..models import AlertRule
from ..snapshot import Snapshot
from .base import Observation, clean, facility_url


def _window(rule: AlertRule) -> str:
    return rule.window or "1h"


def _labels(site, window: str) -> dict[str, str]:
    return clean({"site": site.slug, "window": window, "simulated": "true" if site.simulated else ""})


def _sites(snapshot: Snapshot):
    # A site without meters has no PUE to speak of.
    with_meters = {m.site_id for m in snapshot.meters}
    return [s for s in snapshot.sites.values() if s.pk in with_meters]


def incomplete(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    window = _window(rule)
    for site in _sites(snapshot):
        result = snapshot.pue(site, window)
        yield Observation(_labels(site, window), 0.0 if result.complete else 1.0,
                          f"{site.name}: {window} PUE incomplete: {result.reason or 'see the facility page'}"
                          if not result.complete else f"{site.name}: {window} PUE {result.pue:.2f}",
                          facility_url(), site.pk)


def above_target(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    window = _window(rule)
    for site in _sites(snapshot):
        result = snapshot.pue(site, window)
        target = site.pue_target or rule.threshold
        value = result.pue if result.complete else None
        words = f"{value:.2f}" if value is not None else "incomplete"
        yield Observation(_labels(site, window), value, f"{site.name}: {window} PUE {words} (target {target:.2f})",
                          facility_url(), site.pk, threshold=target)


def metric(rule: AlertRule, snapshot: Snapshot) -> Iterator[Observation]:
    if rule.metric == "pue_ratio":
        yield from above_target(rule, snapshot)


BUILTIN = {"pue_incomplete": incomplete, "pue_above_target": above_target}

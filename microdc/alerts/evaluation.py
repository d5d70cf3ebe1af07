"""Evaluate every enabled rule against one snapshot of the site and move each alert through its states, as
Prometheus and Grafana do:

- condition true, no open alert: *pending* (or *firing* at once when the rule's `for` is 0);
- *pending* for `for` seconds: *firing* (startsAt); a pending alert whose condition clears is dropped, as
  Prometheus drops it: it never fired, so nobody was told;
- *firing*, condition false: stays firing until it has been false for `keep_firing_for` (against flapping),
  then *resolved* (endsAt); a firing alert whose condition is true again just goes on;
- data missing (a silent agent, a stale channel) while open: *nodata*, never a silent resolve; when data
  returns the alert goes back to firing (or pending) or resolves;
- an open alert whose thing or rule is gone (retired, deleted, disabled): resolved.

One snapshot, a dictionary of open alerts, and bulk writes of what changed: the cost grows with the things
observed, not with queries (benchmarks/alert_eval.py).
"""

import datetime
import operator
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .conditions import observe
from .labels import fingerprint, matches
from .models import Alert, AlertRule
from .snapshot import Snapshot

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
           "!=": operator.ne}
State = Alert.State
# What a cycle writes when an alert changed; last_evaluated_at alone goes in one UPDATE for every alert seen.
WRITTEN = ["state", "value", "annotations", "url", "site", "starts_at", "ends_at", "false_since",
           "last_evaluated_at", "nodata_since", "updated"]


@dataclass
class EvaluationResult:
    rules: int = 0
    observed: int = 0
    opened: int = 0
    fired: int = 0
    resolved: int = 0
    dropped: int = 0
    nodata: int = 0
    seconds: float = 0.0


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


class _Cycle:
    def __init__(self, now: datetime.datetime):
        self.now = now
        self.result = EvaluationResult()
        self.open = {_key(a.labels): a for a in Alert.objects.filter(state__in=Alert.OPEN_STATES)}
        self.seen: set[tuple] = set()
        self.new: list[Alert] = []
        self.changed: dict[int, Alert] = {}
        self.evaluated: list[int] = []
        self.dropped: list[int] = []

    def observe_rule(self, rule: AlertRule, snapshot: Snapshot) -> None:
        self.result.rules += 1
        for obs in observe(rule, snapshot):
            self.result.observed += 1
            if rule.matchers and not matches(rule.matchers, obs.labels):
                continue
            labels = {**obs.labels, **rule.labels, "alertname": rule.key, "severity": obs.severity or rule.severity}
            key = _key(labels)
            alert = self.open.get(key)
            threshold = obs.threshold if obs.threshold is not None else rule.threshold
            if obs.value is None:
                holds = None
            else:
                holds = threshold is not None and COMPARE[rule.operator](obs.value, threshold)
            if alert is None and not holds:
                continue  # the common case: healthy, nothing open
            self.seen.add(key)
            annotations = {"summary": obs.summary[:500], "description": rule.description}
            if alert is None:
                self._open(rule, labels, obs, annotations)
            else:
                self._step(rule, alert, holds, obs, annotations)

    def _open(self, rule: AlertRule, labels: dict, obs, annotations: dict) -> None:
        firing = rule.for_seconds == 0
        self.new.append(Alert(
            rule=rule, fingerprint=fingerprint(labels), labels=labels, annotations=annotations,
            severity=labels["severity"], state=State.FIRING if firing else State.PENDING, value=obs.value,
            site_id=obs.site_id, url=obs.url, active_at=self.now, starts_at=self.now if firing else None,
            last_evaluated_at=self.now, updated=self.now))
        self.result.opened += 1
        self.result.fired += firing

    def _step(self, rule: AlertRule, alert: Alert, holds: bool | None, obs, annotations: dict) -> None:
        now = self.now
        before = (alert.state, alert.value, alert.annotations, alert.url, alert.site_id, alert.false_since)
        alert.value = obs.value if obs.value is not None else alert.value
        alert.annotations, alert.url, alert.site_id, alert.last_evaluated_at = annotations, obs.url, obs.site_id, now
        if holds is None:
            if alert.state != State.NODATA:
                alert.state, alert.nodata_since = State.NODATA, now
                self.result.nodata += 1
        elif holds:
            alert.false_since, alert.nodata_since = None, None
            due = (now - alert.active_at).total_seconds() >= rule.for_seconds
            if alert.starts_at is not None or due:
                if alert.starts_at is None:
                    alert.starts_at = now
                    self.result.fired += 1
                alert.state = State.FIRING
            else:
                alert.state = State.PENDING
        elif alert.starts_at is None:
            self._drop(alert)
            return
        elif alert.state == State.NODATA:
            self._resolve(alert)
            return
        else:
            alert.false_since = alert.false_since or now
            if (now - alert.false_since).total_seconds() >= rule.keep_firing_for_seconds:
                self._resolve(alert)
                return
        self.evaluated.append(alert.pk)
        if (alert.state, alert.value, alert.annotations, alert.url, alert.site_id, alert.false_since) != before:
            alert.updated = now
            self.changed[alert.pk] = alert

    def _resolve(self, alert: Alert, why: str = "") -> None:
        alert.state, alert.ends_at, alert.nodata_since = State.RESOLVED, self.now, None
        alert.last_evaluated_at = alert.updated = self.now
        if why:
            alert.annotations = {**alert.annotations, "resolved": why}
        self.changed[alert.pk] = alert
        self.result.resolved += 1

    def _drop(self, alert: Alert) -> None:
        self.dropped.append(alert.pk)
        self.result.dropped += 1

    def finish(self) -> None:
        """Open alerts nothing observed this cycle: their thing is gone or their rule no longer runs."""
        for key, alert in self.open.items():
            if key in self.seen:
                continue
            if alert.starts_at is None:
                self._drop(alert)
            else:
                self._resolve(alert, "no longer evaluated: its rule is disabled or gone, or its thing retired")
        with transaction.atomic():
            Alert.objects.bulk_create(self.new, ignore_conflicts=True)
            Alert.objects.bulk_update(list(self.changed.values()), WRITTEN)
            unchanged = [pk for pk in self.evaluated if pk not in self.changed]
            if unchanged:
                Alert.objects.filter(pk__in=unchanged).update(last_evaluated_at=self.now)
            Alert.objects.filter(pk__in=self.dropped).delete()


def evaluate(now: datetime.datetime | None = None) -> EvaluationResult:
    started = time.perf_counter()
    now = now or timezone.now()
    cycle = _Cycle(now)
    snapshot = Snapshot(now)
    for rule in AlertRule.objects.filter(enabled=True):
        cycle.observe_rule(rule, snapshot)
    cycle.finish()
    cycle.result.seconds = time.perf_counter() - started
    return cycle.result

"""From alert states to notifications, as Alertmanager's dispatcher does it, per receiver:

- route: the receiver's severities and label matchers pick its alerts; silenced alerts send nothing;
- group: alerts sharing the receiver's group_by labels are one group and one message;
- timing: a new group waits group_wait (so a burst arrives as one message), a group that changed waits at
  least group_interval after its last message, an unchanged firing group repeats every repeat_interval, and
  acknowledged alerts do not make it repeat; resolved alerts are told once (send_resolved);
- Alertmanager receivers are not grouped here: every firing alert is posted again every
  MICRODC_ALERTMANAGER_RESEND_SECONDS and a resolved one once, and that Alertmanager groups, routes and
  silences as the site has it configured.

The messages are Notification rows written in the same transaction as the group's new state: a restart loses
nothing and sends nothing twice (delivery.py sends them).
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .labels import matches
from .models import Alert, Notification, NotificationGroup, Receiver
from .payloads import alertmanager_alerts, group_key, rfc3339, webhook_body
from .silences import active_silences, silenced_by

DEFAULT_GROUP_BY = ("alertname", "site")
ALERTMANAGER_GROUP = "alertmanager"
State = Alert.State


def _routed(receiver: Receiver, alert: Alert) -> bool:
    if receiver.severities and alert.severity not in receiver.severities:
        return False
    return matches(receiver.matchers, alert.labels)


def _notifiable(now: datetime.datetime) -> list[Alert]:
    """Alerts that fire (missing data after firing counts: the problem is not known to be over) and alerts
    resolved recently enough that a group may still owe a resolved notice."""
    horizon = now - datetime.timedelta(days=1)
    return list(Alert.objects.filter(Q(state=State.FIRING) | Q(state=State.NODATA, starts_at__isnull=False)
                                     | Q(state=State.RESOLVED, starts_at__isnull=False, ends_at__gte=horizon)))


def route(now: datetime.datetime | None = None) -> int:
    now = now or timezone.now()
    alerts = _notifiable(now)
    silences = active_silences(now)
    audible = [a for a in alerts if not silenced_by(a.labels, silences)]
    made = 0
    for receiver in Receiver.objects.filter(enabled=True):
        mine = [a for a in audible if _routed(receiver, a)]
        if receiver.kind == Receiver.Kind.ALERTMANAGER:
            made += _forward(receiver, mine, now)
        else:
            made += _group_and_notify(receiver, mine, now)
    return made


def _group_and_notify(receiver: Receiver, alerts: list[Alert], now: datetime.datetime) -> int:
    names = receiver.group_by or list(DEFAULT_GROUP_BY)
    groups: dict[str, tuple[dict, list[Alert]]] = {}
    for alert in alerts:
        labels = {n: alert.labels.get(n, "") for n in names if alert.labels.get(n)}
        key = group_key(receiver.name, labels)
        groups.setdefault(key, (labels, []))[1].append(alert)
    known = {g.group_key: g for g in receiver.groups.all()}
    made = 0
    for key in set(groups) | set(known):
        labels, members = groups.get(key, ({}, []))
        made += _step_group(receiver, known.get(key), key, labels, members, now)
    return made


def _step_group(receiver: Receiver, group: NotificationGroup | None, key: str, labels: dict,
                members: list[Alert], now: datetime.datetime) -> int:
    firing = {a.fingerprint: a for a in members if a.state != State.RESOLVED}
    told = group.last_sent_state if group else {}
    # Resolved since the last message: told as firing then, not firing now.
    resolved = [a for a in members if a.state == State.RESOLVED and told.get(a.fingerprint) == "firing"
                and a.fingerprint not in firing]
    if group is None:
        if not firing:
            return 0
        group = NotificationGroup(receiver=receiver, group_key=key, group_labels=labels, first_seen_at=now)
    elif not told and firing and group.last_sent_at is not None and not group.notifications.filter(
            status=Notification.Status.PENDING).exists():
        group.first_seen_at, group.last_sent_at = now, None  # an emptied group fills again: a new episode
    since_first = (now - group.first_seen_at).total_seconds()
    since_last = (now - group.last_sent_at).total_seconds() if group.last_sent_at else None
    changed = set(firing) != {fp for fp, s in told.items() if s == "firing"} or bool(resolved)
    if since_last is None:
        due = bool(firing) and since_first >= receiver.group_wait_seconds
    elif changed:
        due = since_last >= receiver.group_interval_seconds
    else:
        # A repeat: only for what nobody has acknowledged yet.
        due = since_last >= receiver.repeat_interval_seconds and any(
            a.acknowledged_at is None for a in firing.values())
    if not due:
        if group.pk is None:
            group.save()
        return 0
    sent = list(firing.values()) + (resolved if receiver.send_resolved else [])
    with transaction.atomic():
        group.last_sent_at = now
        group.last_sent_state = dict.fromkeys(firing, "firing")
        group.group_labels = labels or group.group_labels
        group.save()
        if not sent:
            return 0  # only resolved alerts and the receiver wants no resolved notices
        body = webhook_body(receiver.name, key, group.group_labels, sorted(sent, key=_order))
        Notification.objects.create(receiver=receiver, group=group, group_key=key, alert_status=body["status"],
                                    fingerprints=[a.fingerprint for a in sent], payload=body, next_attempt_at=now,
                                    created=now)
    return 1


def _order(alert: Alert) -> tuple:
    return (alert.state == State.RESOLVED, alert.severity != "critical", alert.starts_at or alert.active_at)


def _forward(receiver: Receiver, alerts: list[Alert], now: datetime.datetime) -> int:
    group, _ = NotificationGroup.objects.get_or_create(receiver=receiver, group_key=ALERTMANAGER_GROUP,
                                                       defaults={"first_seen_at": now})
    firing = [a for a in alerts if a.state != State.RESOLVED]
    told = group.last_sent_state
    resolved = [a for a in alerts if a.state == State.RESOLVED and told.get(a.fingerprint) == "firing"]
    changed = {a.fingerprint for a in firing} != {fp for fp, s in told.items() if s == "firing"} or resolved
    stale = group.last_sent_at is None or \
        (now - group.last_sent_at).total_seconds() >= settings.MICRODC_ALERTMANAGER_RESEND_SECONDS
    if not (changed or (firing and stale)):
        return 0
    with transaction.atomic():
        # While the Alertmanager is unreachable one post waits, brought up to date, instead of a pile of stale
        # ones; resolved alerts it still owes stay in it.
        waiting = (Notification.objects.select_for_update().filter(receiver=receiver, group=group,
                                                                   status=Notification.Status.PENDING, attempts__gt=0)
                   .order_by("-created").first())
        body = alertmanager_alerts(firing + resolved, now)
        if waiting is not None:
            sent = {_identity(a) for a in body}
            body += [a for a in waiting.payload if a["endsAt"] <= rfc3339(now) and _identity(a) not in sent]
        group.last_sent_at, group.last_sent_state = now, {a.fingerprint: "firing" for a in firing}
        group.save()
        fingerprints = [a.fingerprint for a in firing + resolved]
        if waiting is not None:
            waiting.payload, waiting.fingerprints = body, fingerprints
            waiting.alert_status = "firing" if firing else "resolved"
            waiting.save(update_fields=["payload", "fingerprints", "alert_status"])
            return 0
        Notification.objects.create(receiver=receiver, group=group, group_key=ALERTMANAGER_GROUP,
                                    alert_status="firing" if firing else "resolved", fingerprints=fingerprints,
                                    payload=body, next_attempt_at=now, created=now)
    return 1


def _identity(posted: dict) -> tuple:
    return tuple(sorted(posted["labels"].items()))

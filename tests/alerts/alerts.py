"""Alert rows as the evaluator leaves them, for the notification and API tests."""

import datetime

from django.utils import timezone

from microdc.alerts.labels import fingerprint
from microdc.alerts.models import Alert

T0 = timezone.now().replace(microsecond=0)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def firing(name: str = "gpu_temperature_high", severity: str = "warning", since: float = 0, site=None,
           **labels) -> Alert:
    slug = site if isinstance(site, str) else site.slug if site else "lab"
    labels = {"alertname": name, "severity": severity, "site": slug, **labels}
    return Alert.objects.create(
        fingerprint=fingerprint(labels), labels=labels, severity=severity, state=Alert.State.FIRING, value=91.0,
        annotations={"summary": f"{name} on {labels.get('node', 'the site')}", "description": "what it means"},
        url="/nodes/1/", site=None if isinstance(site, str) else site, active_at=at(since), starts_at=at(since),
        last_evaluated_at=at(since))


def resolve(alert: Alert, when: float) -> Alert:
    alert.state, alert.ends_at = Alert.State.RESOLVED, at(when)
    alert.save()
    return alert

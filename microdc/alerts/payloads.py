"""The bodies notifications carry, in the shapes the Prometheus ecosystem knows:

- webhook: exactly Alertmanager's webhook payload, version "4" (receiver, status, alerts[] with status, labels,
  annotations, startsAt, endsAt, generatorURL, fingerprint; groupKey, truncatedAlerts, groupLabels,
  commonLabels, commonAnnotations, externalURL), so any receiver written for Alertmanager takes it;
- Alertmanager API v2: ``postableAlerts`` (labels, annotations, startsAt, endsAt, generatorURL), as Prometheus
  sends them: a firing alert's endsAt a few resend intervals ahead, a resolved one's its end;
- e-mail: Alertmanager's default subject ("[FIRING:2] alertname site") and a plain-text body.
"""

import datetime

from django.conf import settings

from .models import Alert

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Alertmanager sends as a firing alert's endsAt


def rfc3339(value: datetime.datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_of(alert: Alert) -> str:
    return "resolved" if alert.state == Alert.State.RESOLVED else "firing"


def generator_url(alert: Alert) -> str:
    return settings.MICRODC_PUBLIC_URL.rstrip("/") + (alert.url or "/alerts/")


def group_key(receiver_name: str, group_labels: dict[str, str]) -> str:
    """As Alertmanager writes it for a route without matchers: ``{}:{alertname="x", site="y"}``."""
    pairs = ", ".join(f'{name}="{value}"' for name, value in sorted(group_labels.items()))
    return f"{{}}/{{receiver=\"{receiver_name}\"}}:{{{pairs}}}"


def _common(dicts: list[dict]) -> dict:
    if not dicts:
        return {}
    first = dicts[0]
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in dicts[1:])}


def webhook_body(receiver_name: str, key: str, group_labels: dict, alerts: list[Alert]) -> dict:
    statuses = [status_of(a) for a in alerts]
    return {
        "receiver": receiver_name,
        "status": "firing" if "firing" in statuses else "resolved",
        "alerts": [{"status": status, "labels": a.labels, "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at or a.active_at),
                    "endsAt": rfc3339(a.ends_at) if status == "resolved" else ZERO_TIME,
                    "generatorURL": generator_url(a), "fingerprint": a.fingerprint}
                   for a, status in zip(alerts, statuses, strict=True)],
        "groupLabels": group_labels,
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": settings.MICRODC_PUBLIC_URL.rstrip("/") + "/alerts/",
        "version": "4",
        "groupKey": key,
        "truncatedAlerts": 0,
    }


def alertmanager_alerts(alerts: list[Alert], now: datetime.datetime) -> list[dict]:
    # Alertmanager resolves an alert whose endsAt passes: a firing one is given four resend intervals, as
    # Prometheus does, and is re-sent well before that.
    ahead = now + datetime.timedelta(seconds=4 * settings.MICRODC_ALERTMANAGER_RESEND_SECONDS)
    return [{"labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at or a.active_at),
             "endsAt": rfc3339(a.ends_at if a.state == Alert.State.RESOLVED else ahead),
             "generatorURL": generator_url(a)} for a in alerts]


def email_message(body: dict) -> tuple[str, str]:
    """(subject, text) of a webhook body, for e-mail receivers."""
    firing = [a for a in body["alerts"] if a["status"] == "firing"]
    resolved = [a for a in body["alerts"] if a["status"] == "resolved"]
    count = f":{len(firing)}" if body["status"] == "firing" else ""
    subject = f"[{body['status'].upper()}{count}] " + " ".join(v for _, v in sorted(body["groupLabels"].items()))
    lines = []
    for title, group in (("Firing", firing), ("Resolved", resolved)):
        if not group:
            continue
        lines.append(f"{title}:")
        for a in group:
            since = a["startsAt"] if a["status"] == "firing" else f"{a['startsAt']} to {a['endsAt']}"
            lines += [f"- [{a['labels'].get('severity', '')}] {a['annotations'].get('summary', '')}",
                      f"  since {since}", f"  {a['generatorURL']}"]
        lines.append("")
    lines.append(f"All alerts: {body['externalURL']}")
    return subject[:200], "\n".join(lines)

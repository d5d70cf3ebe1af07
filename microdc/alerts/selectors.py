"""The stored alerts as screens show them: the alarm panels of the overview, the kiosk and a node's page, the
alerts page's board, and the critical banner every page carries."""

from django.db.models import Max, Q
from django.utils import timezone

from .models import Alert, Severity
from .silences import active_silences, silenced_by

RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
STATE_RANK = {Alert.State.FIRING: 0, Alert.State.NODATA: 1, Alert.State.PENDING: 2, Alert.State.RESOLVED: 3}
HISTORY_HOURS = 24


def _subject(labels: dict) -> str:
    if "gpu" in labels:
        return f"{labels.get('node', '')} GPU {labels['gpu']}".strip()
    if "meter" in labels:
        return f"{labels['meter']} {labels.get('channel', '')}".strip()
    return labels.get("node") or labels.get("deployment") or labels.get("site", "")


def view(alert: Alert, silences=()) -> dict:
    return {
        "id": alert.pk, "name": alert.labels.get("alertname", ""), "severity": alert.severity, "state": alert.state,
        "subject": _subject(alert.labels), "text": alert.annotations.get("summary", ""),
        "description": alert.annotations.get("description", ""), "link": alert.url, "labels": alert.labels,
        "value": alert.value, "active_at": alert.active_at.isoformat(),
        "since": (alert.starts_at or alert.active_at).isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledgement_comment": alert.acknowledgement_comment,
        "silenced_by": silenced_by(alert.labels, silences),
    }


def _order(a: dict) -> tuple:
    return (STATE_RANK.get(a["state"], 9), RANK.get(a["severity"], 9), a["since"])


def _of_site(site_id: int | None):
    return Q(site_id=site_id) | Q(site__isnull=True) if site_id else Q()


def active_alarms(site_id: int | None = None, node: str | None = None) -> list[dict]:
    """Firing alerts and those waiting on missing data, critical first (pending ones are on the alerts page)."""
    rows = Alert.objects.filter(_of_site(site_id), state__in=[Alert.State.FIRING, Alert.State.NODATA]) \
        .select_related("acknowledged_by")
    if node is not None:
        rows = rows.filter(labels__node=node)
    silences = active_silences()
    views = [view(a, silences) for a in rows]
    views.sort(key=lambda a: (RANK.get(a["severity"], 9), a["state"] != Alert.State.FIRING, a["since"]))
    return views


def board(site_id: int | None = None) -> dict:
    """Everything open (firing, missing data, pending), then what resolved in the last day."""
    since = timezone.now() - timezone.timedelta(hours=HISTORY_HOURS)
    silences = active_silences()
    open_rows = Alert.objects.filter(_of_site(site_id), state__in=Alert.OPEN_STATES).select_related("acknowledged_by")
    resolved = (Alert.objects.filter(_of_site(site_id), state=Alert.State.RESOLVED, ends_at__gte=since)
                .select_related("acknowledged_by").order_by("-ends_at")[:200])
    return {"open": sorted((view(a, silences) for a in open_rows), key=_order),
            "recent": [view(a, silences) for a in resolved], "stamp": stamp(site_id)}


def stamp(site_id: int | None = None) -> str | None:
    """Changes when any alert of the site does (state, value, acknowledgement): the live board's cue."""
    latest = Alert.objects.filter(_of_site(site_id)).aggregate(latest=Max("updated"), count=Max("id"))
    return f"{latest['latest'].isoformat() if latest['latest'] else ''}/{latest['count'] or 0}"


def critical_banner(site_id: int | None = None) -> dict:
    """What a wall screen must show from across the room: how many critical alerts fire, and the worst."""
    rows = list(Alert.objects.filter(_of_site(site_id), state=Alert.State.FIRING, severity=Severity.CRITICAL)
                .order_by("starts_at").values("annotations", "acknowledged_at"))
    return {"count": len(rows), "unacknowledged": sum(1 for r in rows if r["acknowledged_at"] is None),
            "summary": rows[0]["annotations"].get("summary", "") if rows else ""}

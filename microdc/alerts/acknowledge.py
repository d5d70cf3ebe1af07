"""Acknowledging an alert (viewers and up): who, when and why; an acknowledged alert stays visible until it
resolves but stops repeating notifications (routing.py)."""

from django.db import transaction
from django.utils import timezone

from microdc.core import audit

from .models import Alert


class AcknowledgeError(ValueError):
    pass


def acknowledge(alert: Alert, user, comment: str = "", remote_addr: str | None = None) -> Alert:
    if len(comment) > 500:
        raise AcknowledgeError("the comment is at most 500 characters")
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.state == Alert.State.RESOLVED:
            raise AcknowledgeError("the alert is resolved: there is nothing left to acknowledge")
        before = {"acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
                  "acknowledgement_comment": alert.acknowledgement_comment}
        alert.acknowledged_at, alert.acknowledged_by, alert.acknowledgement_comment = timezone.now(), user, comment
        alert.updated = alert.acknowledged_at
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_comment", "updated"])
        audit.record(actor=user, source="api", action="action", instance=alert, remote_addr=remote_addr,
                     changes={"acknowledged_by": {"old": before["acknowledged_by"], "new": user.get_username()},
                              "acknowledgement_comment": {"old": before["acknowledgement_comment"], "new": comment}})
    return alert

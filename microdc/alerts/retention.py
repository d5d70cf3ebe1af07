"""How long alert history is kept: resolved alerts and finished notifications (with their attempts) older than
MICRODC_ALERT_RETENTION_DAYS go; open alerts and undelivered notifications always stay."""

import datetime

from django.conf import settings
from django.utils import timezone

from .models import Alert, Notification, NotificationGroup


def prune(now: datetime.datetime | None = None) -> dict[str, int]:
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.MICRODC_ALERT_RETENTION_DAYS)
    alerts, _ = Alert.objects.filter(state=Alert.State.RESOLVED, ends_at__lt=cutoff).delete()
    notifications, _ = (Notification.objects.exclude(status=Notification.Status.PENDING)
                        .filter(created__lt=cutoff).delete())
    groups, _ = (NotificationGroup.objects.filter(notifications__isnull=True, last_sent_at__lt=cutoff)
                 .delete())
    return {"alerts": alerts, "notifications": notifications, "groups": groups}

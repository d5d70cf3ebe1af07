"""History is kept for the retention period and no longer; built-in rules are installed once and an admin's
edits survive every later migrate."""

import datetime

import pytest
from django.core.management import call_command

from microdc.alerts.catalog import BUILTIN, install_builtin_rules
from microdc.alerts.models import Alert, AlertRule, DeliveryAttempt, Notification, Receiver
from microdc.alerts.retention import prune

from .alerts import at, firing, resolve


@pytest.mark.django_db
def test_resolved_alerts_and_finished_notifications_go_after_the_retention(settings):
    settings.MICRODC_ALERT_RETENTION_DAYS = 30
    old = resolve(firing(node="gpu-1"), 0)
    recent = resolve(firing(node="gpu-2"), 20 * 86400)
    still_open = firing(node="gpu-3")
    receiver = Receiver.objects.create(name="ops", kind="webhook", url="http://127.0.0.1:9/")
    sent = Notification.objects.create(receiver=receiver, alert_status="firing", payload={}, status="delivered",
                                       created=at(0))
    DeliveryAttempt.objects.create(notification=sent, ok=True, duration_seconds=0.1, at=at(0))
    waiting = Notification.objects.create(receiver=receiver, alert_status="firing", payload={}, created=at(0))
    counts = prune(at(0) + datetime.timedelta(days=31))
    assert counts["alerts"] == 1 and counts["notifications"] >= 1
    assert set(Alert.objects.values_list("pk", flat=True)) == {recent.pk, still_open.pk}
    assert not Alert.objects.filter(pk=old.pk).exists()
    assert list(Notification.objects.values_list("pk", flat=True)) == [waiting.pk], "undelivered ones stay"
    assert not DeliveryAttempt.objects.exists()


@pytest.mark.django_db
def test_built_in_rules_are_installed_once_and_edits_survive_migrate():
    assert AlertRule.objects.filter(builtin=True).count() == len(BUILTIN)
    AlertRule.objects.filter(key="gpu_temperature_high").update(threshold=80, enabled=False)
    AlertRule.objects.filter(key="leak_detected").delete()
    assert install_builtin_rules() == 1, "only the missing rule is made again"
    call_command("migrate", verbosity=0)
    rule = AlertRule.objects.get(key="gpu_temperature_high")
    assert (rule.threshold, rule.enabled) == (80, False)
    assert AlertRule.objects.filter(builtin=True).count() == len(BUILTIN)

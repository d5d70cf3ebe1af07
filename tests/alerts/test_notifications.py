"""Routing, grouping and durable delivery to a real webhook receiver on loopback: Alertmanager's timings, the
version-4 payload signed with HMAC-SHA512, acknowledgements and silences, a receiver down for ten minutes."""

import hashlib
import hmac
import json

import pytest

from microdc.alerts.delivery import deliver_due
from microdc.alerts.models import DeliveryAttempt, Notification, Receiver, Silence
from microdc.alerts.routing import route

from .alerts import at, firing, resolve
from .peers import WebhookReceiver

WEBHOOK_KEYS = {"receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                "version", "groupKey", "truncatedAlerts"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def ops(hook):
    return Receiver.objects.create(name="ops", kind="webhook", url=hook.url, secret={"hmac_key": "s3cret"},
                                   group_wait_seconds=30, group_interval_seconds=300, repeat_interval_seconds=3600)


def step(seconds: float) -> None:
    route(at(seconds))
    deliver_due(at(seconds))


@pytest.mark.django_db
def test_a_group_waits_then_one_signed_message_in_alertmanagers_shape(ops, hook):
    firing(node="gpu-1")
    step(0)
    firing(node="gpu-2", since=10)
    step(10)
    assert hook.received == [], "group_wait holds the first message so a burst arrives as one"
    step(30)
    [(headers, raw)] = hook.received
    expected = hmac.new(b"s3cret", raw, hashlib.sha512).hexdigest()
    assert headers["X-Microdc-Signature"] == expected
    body = json.loads(raw)
    assert set(body) == WEBHOOK_KEYS and body["version"] == "4" and body["status"] == "firing"
    assert all(set(a) == ALERT_KEYS for a in body["alerts"])
    assert len(body["alerts"]) == 2 and body["groupLabels"] == {"alertname": "gpu_temperature_high", "site": "lab"}
    assert body["commonLabels"] == {"alertname": "gpu_temperature_high", "severity": "warning", "site": "lab"}
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.ok and attempt.status_code == 200


@pytest.mark.django_db
def test_changes_wait_for_the_group_interval_and_resolved_is_told_once(ops, hook):
    one = firing(node="gpu-1")
    step(0)
    step(30)
    resolve(one, 60)
    step(60)
    assert len(hook.received) == 1, "a change waits for group_interval"
    step(330)
    assert [b["status"] for b in hook.bodies()] == ["firing", "resolved"]
    assert hook.bodies()[1]["alerts"][0]["endsAt"].startswith(at(60).strftime("%Y-%m-%dT%H:%M:%S"))
    step(4000)
    assert len(hook.received) == 2, "nothing more to say about a resolved group"


@pytest.mark.django_db
def test_an_unchanged_group_repeats_unless_everything_in_it_is_acknowledged(ops, hook, users):
    alert = firing(node="gpu-1")
    step(0)
    step(30)
    step(3630)
    assert len(hook.received) == 2, "repeat_interval"
    alert.acknowledged_at, alert.acknowledged_by = at(3700), users["viewer"]
    alert.save()
    step(7300)
    assert len(hook.received) == 2, "acknowledged: no more repeats"
    resolve(alert, 7400)
    step(7700)
    assert hook.bodies()[-1]["status"] == "resolved", "but its resolve is still told"


@pytest.mark.django_db
def test_a_thousand_alerts_at_once_are_one_message_not_a_thousand(ops, hook):
    for i in range(1000):
        firing(node=f"gpu-{i:04d}")
    step(0)
    step(30)
    assert len(hook.received) == 1 and len(hook.bodies()[0]["alerts"]) == 1000


@pytest.mark.django_db
def test_routing_by_severity_and_labels_and_silences(hook, users):
    Receiver.objects.create(name="pager", kind="webhook", url=hook.url, severities=["critical"], group_wait_seconds=0,
                            matchers=[{"name": "site", "value": "lab", "isRegex": False, "isEqual": True}])
    firing("leak_detected", severity="critical", meter="CDU-1")
    firing("gpu_temperature_high", severity="warning", node="gpu-1")
    firing("ups_on_battery", severity="critical", site="other", meter="UPS")
    Silence.objects.create(matchers=[{"name": "meter", "value": "CDU-.*", "isRegex": True, "isEqual": True}],
                           starts_at=at(-10), ends_at=at(600), comment="plumber on site", created_by=users["operator"])
    step(0)
    assert hook.received == [], "the warning is not routed, the other site is not matched, the leak is silenced"
    Silence.objects.update(ends_at=at(5))  # the silence expires
    step(10)
    assert [a["labels"]["alertname"] for b in hook.bodies() for a in b["alerts"]] == ["leak_detected"]


@pytest.mark.django_db
def test_a_receiver_down_ten_minutes_gets_the_message_once_when_it_returns(ops, hook):
    firing(node="gpu-1")
    route(at(0))
    hook.status = 503
    for minute in range(11):  # the worker keeps trying, backing off
        route(at(30 + 60 * minute))
        deliver_due(at(30 + 60 * minute))
    notification = Notification.objects.get()
    assert notification.status == "pending" and notification.attempts >= 5
    assert notification.last_error.startswith("HTTP 503")
    hook.status = 200
    for seconds in (700, 1000):
        deliver_due(at(seconds))
    notification.refresh_from_db()
    assert notification.status == "delivered" and len(hook.received) == 1
    assert DeliveryAttempt.objects.filter(notification=notification, ok=False).count() == notification.attempts - 1
    assert "s3cret" not in notification.last_error


@pytest.mark.django_db
def test_an_undeliverable_notification_is_given_up_after_the_retry_window(ops, hook, settings):
    settings.MICRODC_NOTIFICATION_RETRY_HOURS = 1
    firing(node="gpu-1")
    route(at(0))
    route(at(30))
    hook.stop()
    deliver_due(at(30))
    deliver_due(at(4000))
    notification = Notification.objects.get()
    assert notification.status == "failed" and "ConnectError" in notification.last_error


@pytest.mark.django_db
def test_alertmanager_receivers_are_sent_every_firing_alert_again_and_one_waiting_post_while_down(hook, settings):
    settings.MICRODC_ALERTMANAGER_RESEND_SECONDS = 60
    Receiver.objects.create(name="site-am", kind="alertmanager", url=hook.url.removesuffix("/hook"))
    alert = firing(node="gpu-1")
    for seconds in (0, 30, 61):
        step(seconds)
    assert len(hook.received) == 2, "posted at once, then re-sent after the resend interval, not every cycle"
    assert hook.bodies()[1][0]["labels"] == alert.labels
    hook.status = 503
    for minute in range(2, 8):  # the Alertmanager is down for six minutes
        step(60 * minute)
    assert Notification.objects.filter(status="pending").count() == 1, "one post waits, kept up to date"
    resolve(alert, 470)
    step(480)
    hook.status = 200
    step(900)
    posted = hook.bodies()[-1]
    assert len(hook.received) == 3 and posted[0]["endsAt"].startswith(at(470).strftime("%Y-%m-%dT%H:%M:%S")), \
        "the waiting post carries the resolve"

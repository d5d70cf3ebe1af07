"""Against a real Alertmanager (Debian's prometheus-alertmanager 0.25) on loopback: forwarded alerts fire and then
resolve there, fingerprints agree, and our webhook body has the shape of Alertmanager's own."""

import pytest
from django.utils import timezone

from microdc.alerts.delivery import deliver_due
from microdc.alerts.models import Alert, Receiver
from microdc.alerts.routing import route
from tests.support import wait_for

from .alerts import firing
from .peers import Alertmanager, WebhookReceiver
from .test_notifications import ALERT_KEYS, WEBHOOK_KEYS


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def forward_now() -> None:
    now = timezone.now()
    route(now)
    deliver_due(now)


def fresh(alert: Alert) -> Alert:
    alert.active_at = alert.starts_at = timezone.now()
    alert.save()
    return alert


@pytest.mark.integration
@pytest.mark.django_db
def test_forwarded_alerts_fire_then_resolve_in_alertmanager(tmp_path, hook):
    with Alertmanager(tmp_path, webhook_url=hook.url) as am:
        Receiver.objects.create(name="site-am", kind="alertmanager", url=am.url)
        hot = fresh(firing(node="gpu-1", gpu="0"))
        leak = fresh(firing("leak_detected", severity="critical", meter="CDU-1"))
        forward_now()
        shown = {a["labels"]["alertname"]: a for a in am.alerts()}
        assert set(shown) == {"gpu_temperature_high", "leak_detected"}
        assert shown["leak_detected"]["status"]["state"] == "active"
        # Alertmanager's fingerprint of our labels is ours.
        assert shown["gpu_temperature_high"]["fingerprint"] == hot.fingerprint
        assert shown["leak_detected"]["annotations"]["summary"] == leak.annotations["summary"]
        assert shown["leak_detected"]["generatorURL"].endswith("/nodes/1/")
        assert wait_for(lambda: any(b["commonLabels"].get("alertname") == "leak_detected" for b in hook.bodies()),
                        timeout=20), "Alertmanager never told its receiver about the leak"
        # Resolved here: its endsAt reaches Alertmanager, which drops it from the active list and tells its
        # own receivers it resolved.
        leak.state, leak.ends_at = Alert.State.RESOLVED, timezone.now()
        leak.save()
        forward_now()
        assert wait_for(lambda: {a["labels"]["alertname"] for a in am.alerts()} == {"gpu_temperature_high"})
        told = [(b["status"], b["commonLabels"].get("alertname")) for b in hook.bodies()]
        assert wait_for(lambda: ("resolved", "leak_detected") in [
            (b["status"], b["commonLabels"].get("alertname")) for b in hook.bodies()], timeout=20), told


@pytest.mark.integration
@pytest.mark.django_db
def test_our_webhook_body_has_the_shape_of_alertmanagers_own(tmp_path, hook):
    """Alertmanager itself sends a webhook (version 4) for a forwarded alert; ours has the same keys."""
    with Alertmanager(tmp_path, webhook_url=hook.url) as am:
        Receiver.objects.create(name="site-am", kind="alertmanager", url=am.url)
        fresh(firing(node="gpu-7"))
        forward_now()
        assert wait_for(lambda: hook.bodies(), timeout=20), "Alertmanager sent no webhook"
        theirs = hook.bodies()[0]
    assert set(theirs) == WEBHOOK_KEYS and theirs["version"] == "4"
    assert all(set(a) == ALERT_KEYS for a in theirs["alerts"])

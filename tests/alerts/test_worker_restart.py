"""The real periodic worker killed while notifications wait for a receiver that is down; started again once the
receiver is back: every notification is delivered, each exactly once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from microdc.alerts.evaluation import evaluate
from microdc.alerts.models import DeliveryAttempt, Notification, Receiver
from microdc.alerts.routing import route
from microdc.facility.models import MeterState
from microdc.facility.readings import meter_source_key
from microdc.nodes.models import FacilityMeter
from microdc.telemetry.models import Source
from tests.support import shared_database_url, stop_process, wait_for

from .peers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_pending_notifications_survive_a_killed_worker_and_go_out_once(site, settings):
    hook = WebhookReceiver().start()
    hook.status = 503
    now = timezone.now()
    for i in range(3):  # three leaks the worker itself keeps firing (their data stays fresh for an hour)
        meter = FacilityMeter.objects.create(site=site, name=f"CDU-{i}", kind="cooling_unit", boundary="cooling",
                                             protocol="push", poll_interval_seconds=3600)
        MeterState.objects.create(meter=meter, last_success=now, last_attempt=now)
        Source.objects.create(key=meter_source_key(meter.pk, "leak.1"), meter=meter, sensor="leak.1", last_ts=now,
                              last_values={"leak_detected": 1.0})
    Receiver.objects.create(name="ops", kind="webhook", url=hook.url, group_by=["meter"], group_wait_seconds=0,
                            timeout_seconds=2)
    evaluate(now)
    route(now)
    assert Notification.objects.filter(status="pending").count() == 3
    env = dict(os.environ, DATABASE_URL=shared_database_url(), MICRODC_DATA_DIR=str(settings.DATA_DIR),
               DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="WARNING",
               MICRODC_NOTIFICATION_MAX_BACKOFF_SECONDS="1")

    def start_worker():
        return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_periodic"], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    worker = start_worker()
    restarted = None
    try:
        assert wait_for(lambda: DeliveryAttempt.objects.filter(ok=False).count() >= 3, timeout=60), \
            "the worker never tried the receiver"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        assert Notification.objects.filter(status="pending").count() == 3
        hook.status = 200
        restarted = start_worker()
        assert wait_for(lambda: Notification.objects.filter(status="delivered").count() == 3, timeout=60), \
            list(Notification.objects.values_list("status", "attempts", "last_error"))
    finally:
        for process in (worker, restarted):
            if process is not None:
                stop_process(process)
        hook.stop()
    meters = sorted(body["groupLabels"]["meter"] for body in hook.bodies())
    assert meters == ["CDU-0", "CDU-1", "CDU-2"], "each notification delivered exactly once"

"""The PUE rules on real energy (ISO/IEC 30134-2: from energy over the window): above the site's target, and
incomplete when a meter is missing."""

import pytest

from microdc.alerts.evaluation import evaluate
from microdc.alerts.models import Alert, AlertRule
from tests.facility.test_pue import NOW, feed_counter, meter


@pytest.fixture
def metered(site):
    AlertRule.objects.filter(key__in=["pue_above_target", "pue_incomplete"]).update(for_seconds=0,
                                                                                keep_firing_for_seconds=0)
    AlertRule.objects.exclude(scope="site").update(enabled=False)
    return {"feed": meter(site, "Utility feed", "utility_feed", "facility_input"),
            "pdu": meter(site, "PDU 1", "pdu", "it_load", "pdu_output")}


@pytest.mark.django_db
def test_pue_above_the_sites_target_fires_with_the_figure(site, metered):
    site.pue_target = 1.5
    site.save()
    feed_counter(metered["feed"], 10.0)
    feed_counter(metered["pdu"], 5.0)
    evaluate(NOW)
    alert = Alert.objects.get(labels__alertname="pue_above_target")
    assert alert.state == "firing" and alert.value == pytest.approx(2.0)
    assert "PUE 2.00 (target 1.50)" in alert.annotations["summary"] and alert.labels["window"] == "1h"
    assert not Alert.objects.filter(labels__alertname="pue_incomplete").exists()
    site.pue_target = 2.5
    site.save()
    evaluate(NOW)
    alert.refresh_from_db()
    assert alert.state == "resolved"


@pytest.mark.django_db
def test_pue_incomplete_fires_naming_why(site, metered):
    feed_counter(metered["feed"], 10.0)  # no IT energy at all
    evaluate(NOW)
    alert = Alert.objects.get(labels__alertname="pue_incomplete")
    assert alert.state == "firing" and "incomplete" in alert.annotations["summary"]
    assert not Alert.objects.filter(labels__alertname="pue_above_target").exists()

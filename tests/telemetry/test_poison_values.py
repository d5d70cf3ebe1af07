"""Numbers float64 cannot hold, and non-finite ones, are refused at the edge on every path of a node's batch
(nothing stored), so /metrics and the rollup run never meet them. The meter push: tests/facility/test_meter_push.py."""

import datetime
import json

import pytest
from django.utils import timezone

from microdc.telemetry.models import ReceivedBatch, Sample, Source
from microdc.telemetry.rollups import roll_up_dirty

from .factories import batch, gpu, sample

UUID0 = "GPU-00000000-0000-0000-0000-000000000000"
HUGE = "1" + "0" * 400  # an integer literal float64 cannot hold (1e400)
# Written into the JSON text as is: json.dumps cannot produce most of these from Python values. 1.7e308 is a
# float64, but a rollup of it overflows to inf, which neither database stores as JSON.
POISON = [HUGE, "-" + HUGE, "NaN", "Infinity", "-Infinity", "1e400", "1.7e308", "-1" + "0" * 101]
POISON_IDS = ["huge", "-huge", "nan", "inf", "-inf", "1e400", "1.7e308", "-1e101-int"]


def body_with(node, poison: str, where: str) -> str:
    """A batch whose value at `where` is the JSON token `poison`: a known device metric (the fast path), a metric
    name not seen before (the precise path) or a sensor's metric."""
    now = timezone.now()
    devices = [gpu(0, UUID0, power_watts="POISON" if where == "device" else 300.0)]
    if where == "new_name":
        devices[0]["metrics"]["never_seen_before_ratio"] = "POISON"
    def sensors(energy):
        return [{"source": "hwmon", "chip": "coretemp", "name": "Package id 0",
                 "metrics": {"temperature_celsius": 50.0}},
                {"source": "rapl", "chip": "intel-rapl:0", "name": "package-0", "metrics": {"energy_joules": energy}}]

    # Each source twice, so that a rollup of stored poison has an interval (power) and an increase (energy).
    text = json.dumps(batch(node.hostname, [
        sample(now - datetime.timedelta(seconds=5), [gpu(0, UUID0)], sensors(5.0)),
        sample(now, devices, sensors("POISON" if where == "sensor" else 6.0))]))
    return text.replace('"POISON"', poison)


FIELDS = {"device": "samples[1].devices[0].metrics.power_watts",
          "new_name": "samples[1].devices[0].metrics.never_seen_before_ratio",
          "sensor": "samples[1].sensors[1].metrics.energy_joules"}


@pytest.mark.django_db
@pytest.mark.parametrize("where", list(FIELDS))
@pytest.mark.parametrize("poison", POISON, ids=POISON_IDS)
def test_poison_value_is_refused_naming_the_field(agent, node, client, where, poison):
    response = agent.generic("POST", "/api/v1/telemetry/", body_with(node, poison, where),
                             content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == FIELDS[where]
    assert "finite number" in response.json()["detail"]
    assert not Sample.objects.exists() and not ReceivedBatch.objects.exists() and not Source.objects.exists()
    # What a stored poison value broke before: every scrape answered 500 and the rollup run raised.
    assert client.get("/metrics").status_code == 200
    roll_up_dirty()


@pytest.mark.django_db
@pytest.mark.parametrize("largest", ["1e100", "-1e100", "1" + "0" * 100])
def test_largest_magnitude_is_accepted_and_rolls_up(agent, node, client, largest):
    response = agent.generic("POST", "/api/v1/telemetry/", body_with(node, largest, "sensor"),
                             content_type="application/json")
    assert response.status_code == 202, response.content
    assert roll_up_dirty() == 3
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2000-01-01T00:00:00Z",
                                12345, None])
def test_batch_refuses_timestamp_out_of_range(agent, node, ts):
    body = batch(node.hostname, [sample(timezone.now(), [gpu(0, UUID0)])])
    body["samples"][0]["ts"] = ts
    response = agent.post("/api/v1/telemetry/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "samples[0].ts"
    assert not Sample.objects.exists()


@pytest.mark.django_db
def test_deeply_nested_body_is_refused(agent, node):
    # Within the size limit, but deeper than the JSON decoder recurses.
    response = agent.generic("POST", "/api/v1/telemetry/", "[" * 100_000 + "]" * 100_000,
                             content_type="application/json")
    assert response.status_code == 400, response.content
    assert "Malformed JSON" in response.json()["detail"]

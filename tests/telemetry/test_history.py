"""/api/v1/telemetry/history/: the work one request may cause is bounded before anything is decoded."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.rollups import roll_up_dirty

from .factories import batch, gpu, sample

pytestmark = pytest.mark.django_db
URL = "/api/v1/telemetry/history/"


@pytest.fixture
def two_gpus(node):
    """gpu-01 with two GPUs, one sample every 10 s for the last 10 minutes (60 samples), rolled up."""
    t0 = timezone.now().replace(microsecond=0) - datetime.timedelta(minutes=10)
    samples = [sample(t0 + datetime.timedelta(seconds=10 * i),
                      [gpu(0, "GPU-a", power_watts=100.0 + i), gpu(1, "GPU-b", power_watts=200.0 + i)])
               for i in range(60)]
    ingest_batch(node, batch(node.hostname, samples))
    roll_up_dirty()
    return t0


def history(client, **params):
    return client.get(URL, {"node": "gpu-01", "metric": "power_watts", **params})


def test_raw_points_of_every_source_of_a_node(client_for, two_gpus):
    response = history(client_for("viewer"), resolution="raw", start=two_gpus.isoformat())
    assert response.status_code == 200, response.json()
    series = {s["source"]: [p["value"] for p in s["points"]] for s in response.json()["series"]}
    assert sorted(map(len, series.values())) == [60, 60]
    assert sorted(points[0] for points in series.values()) == [100.0, 200.0]


def test_raw_over_the_raw_span_limit_is_refused_with_how_to_ask(client_for, two_gpus, settings):
    settings.MICRODC_HISTORY_RAW_MAX_HOURS = 2
    end = timezone.now()
    response = history(client_for("viewer"), resolution="raw", end=end.isoformat(),
                       start=(end - datetime.timedelta(hours=2, minutes=1)).isoformat())
    assert response.status_code == 400
    assert "at most 2 hours" in response.json()["resolution"]
    assert "resolution=1m" in response.json()["resolution"]


def test_raw_before_the_raw_retention_is_refused(client_for, two_gpus, settings):
    settings.MICRODC_RAW_RETENTION_HOURS = 1
    start = timezone.now() - datetime.timedelta(hours=1, minutes=30)
    response = history(client_for("viewer"), resolution="raw", start=start.isoformat(),
                       end=(start + datetime.timedelta(hours=1)).isoformat())
    assert response.status_code == 400
    assert "kept for 1 hours" in response.json()["start"]


def test_auto_uses_rollups_for_what_raw_samples_no_longer_cover(client_for, two_gpus, settings):
    settings.MICRODC_RAW_RETENTION_HOURS = 1
    start = timezone.now() - datetime.timedelta(hours=2)
    response = history(client_for("viewer"), start=start.isoformat())
    assert response.status_code == 200, response.json()
    assert {s["resolution"] for s in response.json()["series"]} == {"1m"}


def test_raw_over_the_point_limit_is_refused_without_decoding_a_sample(client_for, two_gpus, settings):
    # 60 samples x 2 sources = 120 points.
    settings.MICRODC_HISTORY_MAX_POINTS = 119
    viewer = client_for("viewer")
    with CaptureQueriesContext(connection) as queries:
        response = history(viewer, resolution="raw", start=two_gpus.isoformat())
    assert response.status_code == 400
    assert "more than 119 points" in response.json()["resolution"]
    sample_reads = [q["sql"] for q in queries if "telemetry_sample" in q["sql"]]
    assert sample_reads and not any('"values"' in sql for sql in sample_reads), sample_reads
    settings.MICRODC_HISTORY_MAX_POINTS = 120
    assert history(viewer, resolution="raw", start=two_gpus.isoformat()).status_code == 200


def test_rollups_over_the_point_limit_are_refused(client_for, two_gpus, settings):
    viewer = client_for("viewer")
    start = (two_gpus - datetime.timedelta(minutes=1)).isoformat()
    buckets = sum(len(s["points"]) for s in history(viewer, resolution="1m", start=start).json()["series"])
    assert buckets >= 20  # 10 or 11 minute buckets per GPU
    settings.MICRODC_HISTORY_MAX_POINTS = buckets - 1
    response = history(viewer, resolution="1m", start=start)
    assert response.status_code == 400 and f"more than {buckets - 1} points" in response.json()["resolution"]

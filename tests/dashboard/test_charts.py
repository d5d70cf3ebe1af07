"""Chart data: uPlot columns summed from rollups (or raw samples), one query per chart."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import Rollup, Source
from microdc.telemetry.rollups import floor_time

from .conftest import gpu_batch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()


@pytest.fixture
def viewer_client(client, users):
    client.force_login(users["viewer"])
    return client


def gauge(*values: float) -> dict:
    return {"n": len(values), "sum": sum(values), "min": min(values), "max": max(values)}


def rollup(source: Source, start: datetime.datetime, resolution: int = Rollup.MINUTE, **metrics) -> None:
    Rollup.objects.create(source=source, resolution=resolution, start=start, coverage=resolution,
                          stats={name: gauge(*values) for name, values in metrics.items()})


def test_site_it_load_sums_the_accelerators_and_the_it_meters_boundary_channel(viewer_client, small_site):
    n1, n2 = small_site["nodes"]
    ingest_batch(n1, gpu_batch(n1, {0: {}, 1: {}}))
    ingest_batch(n2, gpu_batch(n2, {0: {}}))
    gpu_a, gpu_b = Source.objects.filter(node=n1, accelerator__isnull=False).order_by("accelerator__index")
    gpu_c = Source.objects.get(node=n2, accelerator__isnull=False)
    pdu = small_site["meters"]["pdu"]
    outlets = Source.objects.create(key=f"meter/{pdu.pk}/outlets", meter=pdu, sensor="outlets")
    total = Source.objects.create(key=f"meter/{pdu.pk}/", meter=pdu, sensor="")
    t0 = floor_time(timezone.now() - datetime.timedelta(minutes=10), 60)
    t1 = t0 + datetime.timedelta(minutes=1)
    rollup(gpu_a, t0, power_watts=[100.0, 300.0])   # mean 200
    rollup(gpu_b, t0, power_watts=[300.0])
    rollup(gpu_c, t0, power_watts=[50.0])
    rollup(gpu_a, t1, power_watts=[250.0])
    rollup(outlets, t0, power_watts=[5000.0, 5200.0])
    rollup(total, t0, power_watts=[9999.0])          # the PDU's input: not its IT boundary
    rollup(gpu_a, t0 - datetime.timedelta(hours=2), power_watts=[1.0])  # outside the 1 h window

    body = viewer_client.get(f"/charts/sites/{small_site['site'].pk}/it-power?window=1h").json()
    assert body["t"] == [int(t0.timestamp()), int(t1.timestamp())]
    series = {s["label"]: s["values"] for s in body["series"]}
    assert series == {"IT meters": [5100.0, None], "Accelerators (agents)": [550.0, 250.0]}
    assert body["unit"] == "W" and body["resolution"] == "1m"


def test_thirty_days_come_from_hour_rollups(viewer_client, small_site):
    n1 = small_site["nodes"][0]
    ingest_batch(n1, gpu_batch(n1, {0: {}}))
    source = Source.objects.get(node=n1, accelerator__isnull=False)
    hour = floor_time(timezone.now() - datetime.timedelta(days=10), 3600)
    rollup(source, hour, resolution=Rollup.HOUR, power_watts=[400.0, 600.0])
    rollup(source, hour, resolution=Rollup.MINUTE, power_watts=[1.0])
    body = viewer_client.get(f"/charts/sites/{small_site['site'].pk}/it-power?window=30d").json()
    assert body["resolution"] == "1h" and body["t"] == [int(hour.timestamp())]
    assert body["series"] == [{"label": "Accelerators (agents)", "values": [500.0]}]


def test_node_chart_has_one_line_per_gpu_from_raw_samples(viewer_client, small_site):
    n1 = small_site["nodes"][0]
    now = timezone.now().replace(microsecond=0)
    for seconds, temps in ((20, (40.0, 41.0)), (10, (42.0, 43.0))):
        ts = now - datetime.timedelta(seconds=seconds)
        ingest_batch(n1, gpu_batch(n1, {i: {"temperature_celsius": t} for i, t in enumerate(temps)}, ts=ts))
    body = viewer_client.get(f"/charts/nodes/{n1.pk}?metric=temperature_celsius&window=15m").json()
    assert body["resolution"] == "raw" and body["unit"] == "°C"
    assert body["t"] == [int((now - datetime.timedelta(seconds=s)).timestamp()) for s in (20, 10)]
    assert body["series"] == [{"label": "GPU 0", "values": [40.0, 42.0]}, {"label": "GPU 1", "values": [41.0, 43.0]}]


@pytest.mark.parametrize("query, problem", [
    ("window=7y", "window must be one of"),
    ("window=1h&metric=energy_joules", "is a counter"),
])
def test_bad_chart_requests_say_what_is_wrong(viewer_client, small_site, query, problem):
    response = viewer_client.get(f"/charts/nodes/{small_site['nodes'][0].pk}?{query}")
    assert response.status_code == 400 and problem in response.json()["detail"]


def test_meter_chart_reads_its_boundary_channel(viewer_client, small_site):
    pdu = small_site["meters"]["pdu"]
    outlets = Source.objects.create(key=f"meter/{pdu.pk}/outlets", meter=pdu, sensor="outlets")
    t0 = floor_time(timezone.now() - datetime.timedelta(minutes=5), 60)
    rollup(outlets, t0, power_watts=[4000.0])
    body = viewer_client.get(f"/charts/meters/{pdu.pk}?window=1h").json()
    assert body["series"] == [{"label": "outlets", "values": [4000.0]}]

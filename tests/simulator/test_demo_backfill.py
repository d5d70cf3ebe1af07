"""The demo's seed and backfill: through the real ingest, scrape, rollup and ledger code, the seeded site
yields complete PUE and per-deployment figures, and a second backfill adds nothing."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from microdc.energy.models import ModelServer, Reservation, UsageBucket
from microdc.facility.pue import pue_between
from microdc.nodes.models import FacilityMeter, Site
from microdc.provisioning.models import Deployment
from microdc.simulator import demo_site
from microdc.simulator.backfill import backfill_demo
from microdc.simulator.demo_deployments import DEPLOYMENTS
from microdc.telemetry.models import Rollup, Sample

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    monkeypatch.setattr(demo_site, "HISTORY_DAYS", 1)  # a day of history keeps the test short; 7 in the demo
    demo_site.seed_demo_site()
    return timezone.now()


def test_seed_makes_exclusive_and_shared_deployments_with_simulated_artifacts(seeded):
    deployments = {d.name: d for d in Deployment.objects.select_related("current_revision")}
    assert set(deployments) == {spec.name for spec in DEPLOYMENTS}
    for deployment in deployments.values():
        assert deployment.status == "healthy" and deployment.runtime == "vllm"
        assert deployment.endpoints[0]["metrics_url"].startswith("http://127.0.0.1:")
        assert "SIMULATED" in Path(deployment.current_revision.artifact).read_text()
    assert deployments["chat"].current_revision.accelerators == [0, 1]
    assert deployments["code"].current_revision.accelerators == deployments["summarize"].current_revision.accelerators
    site = Site.objects.get(slug="demo")
    hourly = site.carbon_intensities.filter(note="simulated hourly grid intensity")
    noon = hourly.filter(valid_from__hour=12).first().grams_co2e_per_kwh
    night = hourly.filter(valid_from__hour=2).first().grams_co2e_per_kwh
    assert noon < night
    assert hourly.filter(valid_from__gt=seeded + datetime.timedelta(hours=23)).exists()  # a day ahead
    assert site.meters.filter(kind="generation").exists()
    demo_site.seed_demo_site()  # idempotent
    assert Deployment.objects.count() == len(DEPLOYMENTS)


def test_backfill_gives_complete_figures_and_a_second_run_adds_nothing(seeded):
    result = backfill_demo(now=seeded)
    FacilityMeter.objects.filter(simulated=True).update(enabled=True)  # what run_simulators does once they serve
    assert result.gpu_samples and result.meter_samples and result.pages
    end = seeded.replace(second=0, microsecond=0) - datetime.timedelta(minutes=2)
    start = end - datetime.timedelta(hours=24)
    pue = pue_between(Site.objects.get(slug="demo"), start, end)
    assert pue.complete, pue.reason
    assert 1.05 < pue.pue < 2.0
    assert pue.generation_energy_joules > 0  # the solar array covered part of the load
    assert ModelServer.objects.filter(active=True).count() == len(DEPLOYMENTS)
    assert Reservation.objects.filter(end__isnull=True).count() == 4  # chat: 2 GPUs; code and summarize: 1 each
    for spec in DEPLOYMENTS:
        rows = UsageBucket.objects.filter(deployment__name=spec.name, resolution=60, start__gte=start, start__lt=end)
        assert rows.count() == 24 * 60, spec.name
        for field in ("gpu_coverage", "server_coverage"):  # every minute covered alike (no gaps)
            values = [getattr(r, field) for r in rows]
            assert min(values) >= 0.9 * max(values) > 0, (spec.name, field)
        requests = sum(r.requests or 0 for r in rows)
        tokens = sum(r.generation_tokens or 0 for r in rows)
        joules = sum(r.gpu_joules for r in rows)
        assert requests > 1000 and tokens > 100 * requests and joules > 0
        assert 0.05 < joules / tokens < 50  # J per generated token in a plausible range for a simulated H100
        assert sum(r.gpu_idle_joules for r in rows) > 0  # quiet night minutes
    counts = (Sample.objects.count(), Rollup.objects.count(), UsageBucket.objects.count())
    again = backfill_demo(now=seeded)
    assert (again.gpu_samples, again.meter_samples, again.pages) == (0, 0, 0)
    assert (Sample.objects.count(), Rollup.objects.count(), UsageBucket.objects.count()) == counts

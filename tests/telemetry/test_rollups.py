"""Rollups against ground truth: energy increases across counter resets, power integrated, gaps left empty."""

import datetime

import pytest

from microdc.telemetry.models import Rollup, Sample, Source
from microdc.telemetry.rollups import prune, roll_up_dirty
from microdc.telemetry.store import Reading, store

T0 = datetime.datetime(2026, 11, 27, 3, 0, 0, tzinfo=datetime.UTC)


@pytest.fixture
def source(node):
    return Source.objects.create(key="test/gpu0", node=node)


def feed(source, points):
    """points: (seconds after T0, {metric: value})."""
    source.refresh_from_db()  # as ingest does: sources are read fresh for every batch
    store([Reading(source, T0 + datetime.timedelta(seconds=s), values) for s, values in points])


def minute(source, offset_minutes):
    return Rollup.objects.get(source=source, resolution=Rollup.MINUTE,
                              start=T0 + datetime.timedelta(minutes=offset_minutes))


@pytest.mark.django_db
def test_gauge_statistics_and_power_integral(source):
    # 300 W for the first minute, 600 W for the second, sampled every 10 s.
    feed(source, [(s, {"power_watts": 300.0 if s < 60 else 600.0}) for s in range(0, 120, 10)])
    assert roll_up_dirty() == 1
    first, second = minute(source, 0), minute(source, 1)
    # 0-50 s at 300 W, then 50-60 s ramps 300 -> 600 W (trapezoid: 4500 J), inside the first minute.
    assert first.stats["power_watts"] == {"n": 6, "min": 300.0, "max": 300.0, "sum": 1800.0,
                                          "integral": 15000.0 + 4500.0}
    assert second.stats["power_watts"]["integral"] == pytest.approx(5 * 6000)
    assert second.stats["power_watts"]["sum"] / second.stats["power_watts"]["n"] == 600.0
    assert first.coverage == 60 and second.coverage == 50  # the last 10 s wait for the next sample
    hour = Rollup.objects.get(source=source, resolution=Rollup.HOUR, start=T0)
    assert hour.stats["power_watts"]["integral"] == pytest.approx(15000 + 4500 + 30000)
    assert hour.stats["power_watts"]["min"] == 300.0 and hour.stats["power_watts"]["max"] == 600.0


@pytest.mark.django_db
def test_counter_increase_across_a_reset(source):
    # 10 J/s; the counter restarts from zero between 60 s and 70 s (driver reload) and reads 40 J at 70 s.
    points = [(s, {"energy_joules": 1000.0 + 10 * s}) for s in range(0, 70, 10)]
    points += [(s, {"energy_joules": 40.0 + 10 * (s - 70)}) for s in range(70, 130, 10)]
    feed(source, points)
    roll_up_dirty()
    total = sum(r.stats["energy_joules"]["delta"] for r in Rollup.objects.filter(source=source,
                                                                                  resolution=Rollup.MINUTE))
    # 600 J before the reset, 40 J counted by the new counter, then 50 s x 10 J/s.
    assert total == pytest.approx(600 + 40 + 500)
    hour = Rollup.objects.get(source=source, resolution=Rollup.HOUR)
    assert hour.stats["energy_joules"]["delta"] == pytest.approx(1140)
    assert hour.stats["energy_joules"]["last"] == 540.0


@pytest.mark.django_db
def test_a_counter_read_a_hair_lower_is_rounding_not_a_reset(source):
    """A meter's energy read back through a coarser register (Wh) after a precise value comes out 152 J lower of
    6.2 GJ: no energy for that interval, never the whole counter counted again as after a reset."""
    points = [(0, {"energy_joules": 6202824902.77}), (10, {"energy_joules": 6202824750.0}),
              (20, {"energy_joules": 6202825750.0})]
    feed(source, points)
    roll_up_dirty()
    assert minute(source, 0).stats["energy_joules"]["delta"] == pytest.approx(1000.0)


@pytest.mark.django_db
def test_gap_contributes_nothing_and_shortens_coverage(source, settings):
    settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS = 60
    # Samples every 10 s for 2 minutes, nothing for 10 minutes, then 2 more minutes.
    points = [(s, {"energy_joules": 10.0 * s, "power_watts": 10.0}) for s in range(0, 120, 10)]
    points += [(s, {"energy_joules": 10.0 * s, "power_watts": 10.0}) for s in range(720, 840, 10)]
    feed(source, points)
    roll_up_dirty()
    rollups = Rollup.objects.filter(source=source, resolution=Rollup.MINUTE)
    assert sum(r.stats["energy_joules"]["delta"] for r in rollups) == pytest.approx(110 * 10 + 110 * 10)
    hour = Rollup.objects.get(source=source, resolution=Rollup.HOUR)
    assert hour.coverage == 220  # 110 s + 110 s: the 600 s gap is not covered
    assert not rollups.filter(start=T0 + datetime.timedelta(minutes=5)).exists()


@pytest.mark.django_db
def test_interval_across_a_minute_boundary_is_shared_by_time(source):
    feed(source, [(50, {"energy_joules": 0.0}), (70, {"energy_joules": 200.0})])
    roll_up_dirty()
    assert minute(source, 0).stats["energy_joules"]["delta"] == pytest.approx(100)
    assert minute(source, 1).stats["energy_joules"]["delta"] == pytest.approx(100)


@pytest.mark.django_db
def test_late_samples_recompute_their_buckets(source, settings):
    settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS = 60
    feed(source, [(s, {"energy_joules": 10.0 * s}) for s in range(0, 60, 10)])
    feed(source, [(s, {"energy_joules": 10.0 * s}) for s in range(120, 180, 10)])
    roll_up_dirty()
    before = sum(r.stats["energy_joules"]["delta"] for r in Rollup.objects.filter(resolution=Rollup.MINUTE))
    assert before == pytest.approx(500 + 500)  # the 70 s hole is a gap
    # The agent backfills the minute in between: the buckets around it are recomputed, nothing counted twice.
    feed(source, [(s, {"energy_joules": 10.0 * s}) for s in range(60, 120, 10)])
    assert Source.objects.get(pk=source.pk).dirty_since == T0 + datetime.timedelta(seconds=60)
    roll_up_dirty()
    after = sum(r.stats["energy_joules"]["delta"] for r in Rollup.objects.filter(resolution=Rollup.MINUTE))
    assert after == pytest.approx(1700)
    assert Rollup.objects.get(resolution=Rollup.HOUR).stats["energy_joules"]["delta"] == pytest.approx(1700)


@pytest.mark.django_db
def test_prune_keeps_unrolled_samples(source, settings):
    settings.MICRODC_RAW_RETENTION_HOURS = 1
    feed(source, [(0, {"power_watts": 1.0}), (10, {"power_watts": 1.0})])
    now = T0 + datetime.timedelta(hours=3)
    assert prune(now)["samples"] == 0  # not rolled up yet
    roll_up_dirty()
    assert prune(now)["samples"] == 2
    assert not Sample.objects.exists() and Rollup.objects.exists()

"""PUE, pPUE, CUE and WUE against ground truth: meters whose energy over the window is known exactly."""

import datetime

import pytest

from microdc.facility.models import CarbonIntensity
from microdc.facility.pue import site_pue
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.models import FacilityMeter

END = datetime.datetime(2026, 11, 27, 4, 0, tzinfo=datetime.UTC)
START = END - datetime.timedelta(hours=1)
NOW = END + datetime.timedelta(seconds=60)  # the window closes at the last minute whose samples are in
KWH = 3.6e6


def meter(site, name, kind, boundary, point="", channel=""):
    return FacilityMeter.objects.create(site=site, name=name, kind=kind, boundary=boundary,
                                        it_measurement_point=point, boundary_channel=channel, protocol="push",
                                        poll_interval_seconds=30)


def feed_counter(m, kwh_per_hour, reset_at=None, gap=None, channel="", quantity="energy_joules", start_value=5e6):
    """Energy counter samples every 30 s from a minute before the window to a minute after it."""
    value = start_value
    t = START - datetime.timedelta(minutes=1)
    step = kwh_per_hour * KWH / 120  # joules per 30 s
    while t <= END + datetime.timedelta(minutes=1):
        if reset_at is not None and t == reset_at:
            value = step  # the counter restarted from zero and has counted one step since
        in_gap = gap is not None and gap[0] <= t < gap[1]
        if not in_gap:
            store_meter_readings(m, t, [Reading(quantity, value, channel)])
        t += datetime.timedelta(seconds=30)
        value += step


@pytest.fixture
def metered_site(site):
    meters = {
        "feed": meter(site, "Utility feed", "utility_feed", "facility_input"),
        "pdu1": meter(site, "PDU 1", "pdu", "it_load", "pdu_output"),
        "pdu2": meter(site, "PDU 2", "pdu", "it_load", "pdu_output"),
        "cooling": meter(site, "CDU", "cooling_unit", "cooling"),
        "ups": meter(site, "UPS", "ups", "other", channel="input"),
    }
    return site, meters


@pytest.mark.django_db
def test_pue_ppue_cue_from_energy(metered_site):
    site, m = metered_site
    feed_counter(m["feed"], 10.0)
    feed_counter(m["pdu1"], 5.0)
    feed_counter(m["pdu2"], 3.0)
    feed_counter(m["cooling"], 1.5)
    feed_counter(m["ups"], 9.6, channel="input")
    CarbonIntensity.objects.create(site=site, valid_from=START - datetime.timedelta(days=1), grams_co2e_per_kwh=400)
    result = site_pue(site, "1h", now=NOW)
    assert result.complete, result.reason
    assert (result.start, result.end) == (START, END)
    assert result.facility_energy_joules == pytest.approx(10 * KWH)
    assert result.it_energy_joules == pytest.approx(8 * KWH)
    assert f"{result.pue:.4g}" == "1.25"
    assert f"{result.partial_pue_cooling:.4g}" == "1.188"  # (8 + 1.5) / 8 = 1.1875
    assert result.category == 2 and result.it_source == "meters"
    assert f"{result.cue_kg_per_kwh:.4g}" == "0.5"  # 10 kWh x 0.4 kg/kWh / 8 kWh
    assert result.other_energy_joules == pytest.approx(9.6 * KWH)


@pytest.mark.django_db
def test_time_varying_carbon_intensity_and_onsite_generation(metered_site):
    site, m = metered_site
    pv = meter(site, "Roof PV", "generation", "facility_input")
    feed_counter(m["feed"], 8.0)   # grid import
    feed_counter(pv, 2.0)          # PV used on site: facility total is 10 kWh, grid 8 kWh
    feed_counter(m["pdu1"], 8.0)
    feed_counter(m["pdu2"], 0.0)
    feed_counter(m["cooling"], 1.0)
    feed_counter(m["ups"], 9.0, channel="input")
    CarbonIntensity.objects.create(site=site, valid_from=START - datetime.timedelta(days=1), grams_co2e_per_kwh=300)
    CarbonIntensity.objects.create(site=site, valid_from=START + datetime.timedelta(minutes=30),
                                   grams_co2e_per_kwh=500)
    result = site_pue(site, "1h", now=NOW)
    assert result.complete, result.reason
    assert f"{result.pue:.4g}" == "1.25"
    assert result.generation_energy_joules == pytest.approx(2 * KWH)
    # 4 kWh at 300 g + 4 kWh at 500 g = 3.2 kg for 8 kWh of IT energy.
    assert f"{result.carbon_kg:.4g}" == "3.2"
    assert f"{result.cue_kg_per_kwh:.4g}" == "0.4"
    assert result.carbon_intensity_g_per_kwh == 500


@pytest.mark.django_db
def test_counter_reset_inside_the_window(metered_site):
    site, m = metered_site
    feed_counter(m["feed"], 12.0, reset_at=START + datetime.timedelta(minutes=17, seconds=30))
    for name, kwh in (("pdu1", 6.0), ("pdu2", 4.0), ("cooling", 1.0)):
        feed_counter(m[name], kwh)
    feed_counter(m["ups"], 11.0, channel="input")
    result = site_pue(site, "1h", now=NOW)
    assert result.complete, result.reason
    assert result.facility_energy_joules == pytest.approx(12 * KWH)
    assert f"{result.pue:.4g}" == "1.2"


@pytest.mark.django_db
def test_gap_makes_the_window_incomplete_not_wrong(metered_site, settings):
    settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS = 120
    site, m = metered_site
    feed_counter(m["feed"], 10.0)
    feed_counter(m["pdu1"], 5.0, gap=(START + datetime.timedelta(minutes=20), START + datetime.timedelta(minutes=35)))
    feed_counter(m["pdu2"], 3.0)
    feed_counter(m["cooling"], 1.5)
    feed_counter(m["ups"], 9.6, channel="input")
    result = site_pue(site, "1h", now=NOW)
    assert not result.complete and result.pue is None
    assert "PDU 1: data covers" in result.reason
    # The 5-minute window after the gap is whole again.
    later = site_pue(site, "5m", now=NOW)
    assert later.complete, later.reason
    assert f"{later.pue:.4g}" == "1.25"


@pytest.mark.django_db
def test_power_only_meters_are_integrated(site):
    feed = meter(site, "Feed", "utility_feed", "facility_input")
    it = meter(site, "IT", "ups", "it_load", "ups_output")
    t = START - datetime.timedelta(minutes=1)
    while t <= END + datetime.timedelta(minutes=1):
        store_meter_readings(feed, t, [Reading("power_watts", 15000.0)])
        store_meter_readings(it, t, [Reading("power_watts", 12000.0)])
        t += datetime.timedelta(seconds=30)
    result = site_pue(site, "1h", now=NOW)
    assert result.complete, result.reason
    assert result.it_energy_joules == pytest.approx(12000 * 3600)
    assert f"{result.pue:.4g}" == "1.25" and result.category == 1
    assert result.cue_kg_per_kwh is None and "carbon intensity" in result.notes[0]


@pytest.mark.django_db
def test_missing_meters_are_named(site):
    meter(site, "Feed", "utility_feed", "facility_input")
    result = site_pue(site, "5m", now=NOW)
    assert not result.complete
    assert "Feed: no readings" in result.reason
    assert "no IT-load meter and no node telemetry" in result.reason
    with pytest.raises(ValueError, match="window must be one of"):
        site_pue(site, "7m", now=NOW)


@pytest.mark.django_db
def test_water_usage_effectiveness(metered_site):
    site, m = metered_site
    water = meter(site, "Make-up water", "water", "other")
    for name, kwh in (("feed", 10.0), ("pdu1", 5.0), ("pdu2", 3.0), ("cooling", 1.5)):
        feed_counter(m[name], kwh)
    feed_counter(m["ups"], 9.6, channel="input")
    feed_counter(water, 0.004 / KWH * 1, quantity="water_cubic_meters", start_value=100.0)  # 4 L per hour
    result = site_pue(site, "1h", now=NOW)
    assert result.complete, result.reason
    assert f"{result.wue_l_per_kwh:.4g}" == "0.5"  # 4 L / 8 kWh

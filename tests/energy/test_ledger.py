"""Ground truth for the usage ledger on a simulated rig (tests/energy/rig.py): every figure is known in closed
form from the rig's power functions, and the ledger must give it to within 1% through the real ingest,
rollup and attribution code."""

import datetime

import pytest
from django.db.models import Sum

from microdc.energy import ledger
from microdc.energy.models import UnallocatedBucket, UsageBucket
from microdc.facility.models import CarbonIntensity
from microdc.nodes.models import FacilityMeter
from tests.energy.rig import HOUR, MINUTE, T0, Rig, between, constant

pytestmark = pytest.mark.django_db
END = T0 + HOUR
NOW = END + 2 * MINUTE


def usage(deployment, start=T0, end=END, resolution=UsageBucket.MINUTE, node=None):
    rows = UsageBucket.objects.filter(deployment=deployment, resolution=resolution, start__gte=start,
                                      start__lt=end)
    if node is not None:
        rows = rows.filter(node=node)
    return rows


def total(rows, field):
    return rows.aggregate(value=Sum(field))["value"]


def rules(rows):
    return sorted({rule for row in rows for rule in row.rules})


def unallocated(node, field, start=T0, end=END):
    return total(UnallocatedBucket.objects.filter(node=node, resolution=60, start__gte=start, start__lt=end), field)


def test_exclusive_gpu_psu_overhead_and_unallocated():
    rig = Rig()
    node = rig.node("gpu-a", gpus=2)
    chat = rig.deployment("chat", [node], [0])
    rig.push_node(node, T0, END, gpus={0: constant(300.0), 1: constant(100.0)}, psu=constant(1000.0))
    rig.serve(chat, node, T0, END)
    rig.settle(NOW)

    rows = usage(chat)
    assert total(rows, "gpu_joules") == pytest.approx(300 * 3600, rel=0.01)
    # Overhead: 1000 W measured - 400 W of GPUs = 600 W, half of it chat's (it holds 1 of 2 accelerators).
    assert total(rows, "node_joules") == pytest.approx((300 + 300) * 3600, rel=0.01)
    assert unallocated(node, "gpu_joules") == pytest.approx(100 * 3600, rel=0.01)
    assert unallocated(node, "node_joules") == pytest.approx((100 + 300) * 3600, rel=0.01)
    assert rules(rows) == ["gpu:exclusive", "node:psu-input"]
    assert total(rows, "requests") == pytest.approx(2 * 3600, rel=0.01)
    assert total(rows, "generation_tokens") == pytest.approx(100 * 3600, rel=0.01)
    assert total(rows, "prompt_tokens") is None  # not reported: unknown, never zero
    assert total(rows, "server_coverage") == pytest.approx(3600, rel=0.01)
    assert total(rows, "gpu_idle_joules") == 0
    hour = usage(chat, resolution=UsageBucket.HOUR).get()
    assert hour.gpu_joules == pytest.approx(total(rows, "gpu_joules"))
    assert hour.requests == pytest.approx(total(rows, "requests"))
    assert hour.facility_joules is None  # no facility meters: no PUE, the facility level is unknown


def test_shared_gpu_by_process_utilization_then_evenly():
    rig = Rig()
    node = rig.node("gpu-s", gpus=1)
    a = rig.deployment("a", [node], [0])
    b = rig.deployment("b", [node], [0])
    half = T0 + datetime.timedelta(minutes=30)
    # First half hour both processes report (0.6 vs 0.2: 3:1); then b's process reports nothing.
    rig.push_node(node, T0, half, gpus={0: constant(400.0)},
                  processes={(0, "a"): constant(0.6), (0, "b"): constant(0.2)})
    rig.push_node(node, half + datetime.timedelta(seconds=10), END, gpus={0: constant(400.0)},
                  processes={(0, "a"): constant(0.6)})
    rig.settle(NOW)

    first_a, first_b = usage(a, end=half), usage(b, end=half)
    assert total(first_a, "gpu_joules") == pytest.approx(0.75 * 400 * 1800, rel=0.01)
    assert total(first_b, "gpu_joules") == pytest.approx(0.25 * 400 * 1800, rel=0.01)
    assert rules(first_a) == ["gpu:shared-by-process-utilization", "node:no-measurement"]
    # Minutes where only a's process reports: evenly (half each).
    later = half + MINUTE
    assert total(usage(a, start=later), "gpu_joules") == pytest.approx(0.5 * 400 * 29 * 60, rel=0.01)
    assert total(usage(b, start=later), "gpu_joules") == pytest.approx(0.5 * 400 * 29 * 60, rel=0.01)
    assert "gpu:shared-evenly" in rules(usage(b, start=later))
    # No node measurement: node energy is GPU energy, and the rule says so.
    assert total(usage(a), "node_joules") == pytest.approx(total(usage(a), "gpu_joules"))
    assert total(usage(a), "node_coverage") == 0


def test_server_restart_and_idle_minutes():
    rig = Rig()
    node = rig.node("gpu-r", gpus=1)
    chat = rig.deployment("chat", [node], [0])
    rig.push_node(node, T0, END, gpus={0: constant(200.0)})
    busy_until = T0 + datetime.timedelta(minutes=40)
    restart = T0 + datetime.timedelta(minutes=20, seconds=5)
    rig.serve(chat, node, T0, END, rates={"requests_total": between(T0, busy_until, 3.0),
                                          "failed_requests_total": constant(0.0),
                                          "generation_tokens_total": between(T0, busy_until, 50.0)},
              restart_at=restart)
    rig.settle(NOW)

    rows = usage(chat)
    # The restart lost no request: the counter reset is handled by the rollups.
    assert total(rows, "requests") == pytest.approx(3 * 40 * 60, rel=0.01)
    assert total(rows, "generation_tokens") == pytest.approx(50 * 40 * 60, rel=0.01)
    # The last 20 minutes served nothing: their GPU energy is idle, and still chat's (SCI).
    assert total(rows, "gpu_idle_joules") == pytest.approx(200 * 20 * 60, rel=0.01)
    assert total(rows, "gpu_joules") == pytest.approx(200 * 3600, rel=0.01)


def test_rapl_is_all_overhead():
    rig = Rig()
    node = rig.node("gpu-c", gpus=2)
    chat = rig.deployment("chat", [node], [0, 1])
    rig.push_node(node, T0, END, gpus={0: constant(250.0), 1: constant(150.0)}, rapl=constant(120.0),
                  dram=constant(30.0))
    rig.settle(NOW)
    rows = usage(chat)
    assert total(rows, "gpu_joules") == pytest.approx(400 * 3600, rel=0.01)
    assert total(rows, "node_joules") == pytest.approx((400 + 150) * 3600, rel=0.01)
    assert "node:rapl" in rules(rows)
    assert unallocated(node, "node_joules") is None


def test_pdu_outlet_measures_the_node():
    rig = Rig()
    pdu = rig.meter("PDU A", FacilityMeter.Kind.PDU, FacilityMeter.Boundary.OTHER)
    node = rig.node("gpu-p", gpus=1, power_meter=pdu, power_meter_channel="outlet.3")
    chat = rig.deployment("chat", [node], [0])
    rig.push_node(node, T0, END, gpus={0: constant(500.0)}, psu=constant(5000.0))  # the outlet wins
    rig.push_meter(pdu, T0, END, constant(800.0), channel="outlet.3")
    rig.settle(NOW)
    rows = usage(chat)
    assert total(rows, "node_joules") == pytest.approx(800 * 3600, rel=0.01)
    assert "node:pdu-outlet" in rules(rows)
    assert total(rows, "node_coverage") == pytest.approx(3600, rel=0.02)


def test_pue_from_facility_meters_and_carbon_with_solar(settings):
    settings.MICRODC_ONSITE_GENERATION_G_PER_KWH = 40.0
    rig = Rig()
    node = rig.node("gpu-f", gpus=1)
    chat = rig.deployment("chat", [node], [0])
    end = T0 + 2 * HOUR
    rig.push_node(node, T0, end, gpus={0: constant(600.0)})
    # IT load 10 kW, facility input 13 kW (PUE 1.3); in the second hour PV supplies 3.9 kW of it (g = 0.7).
    it = rig.meter("IT", FacilityMeter.Kind.PDU, FacilityMeter.Boundary.IT_LOAD)
    grid = rig.meter("Utility", FacilityMeter.Kind.UTILITY_FEED, FacilityMeter.Boundary.FACILITY_INPUT)
    solar = rig.meter("PV", FacilityMeter.Kind.GENERATION, FacilityMeter.Boundary.FACILITY_INPUT)
    rig.push_meter(it, T0, end, constant(10000.0))
    rig.push_meter(grid, T0, end, lambda t: 13000.0 if t < T0 + HOUR else 9100.0)
    rig.push_meter(solar, T0, end, between(T0 + HOUR, end, 3900.0))
    CarbonIntensity.objects.create(site=rig.site, valid_from=T0, grams_co2e_per_kwh=400.0)
    CarbonIntensity.objects.create(site=rig.site, valid_from=T0 + HOUR, grams_co2e_per_kwh=250.0)
    rig.settle(end + 2 * MINUTE)

    kwh = 600 * 3600 / 3.6e6
    night, day = (usage(chat, start=T0 + h * HOUR, end=T0 + (h + 1) * HOUR, resolution=UsageBucket.HOUR).get()
                  for h in (0, 1))
    assert night.facility_joules == pytest.approx(1.3 * 600 * 3600, rel=0.01)
    assert night.operational_grams_at_pue1 == pytest.approx(kwh * 400, rel=0.01)
    assert night.operational_grams == pytest.approx(kwh * 400 * 1.3, rel=0.01)
    # The sunny hour: 70 % grid at 250 g/kWh, 30 % PV at 40 g/kWh.
    assert day.operational_grams_at_pue1 == pytest.approx(kwh * (250 * 0.7 + 40 * 0.3), rel=0.01)
    assert day.facility_joules == pytest.approx(1.3 * 600 * 3600, rel=0.01)

    # A corrected schedule recomputes the minutes it changes.
    CarbonIntensity.objects.filter(site=rig.site, valid_from=T0).update(grams_co2e_per_kwh=500.0)
    ledger.update(now=end + 3 * MINUTE)
    night = usage(chat, end=T0 + HOUR, resolution=UsageBucket.HOUR).get()
    assert night.operational_grams_at_pue1 == pytest.approx(kwh * 500, rel=0.01)


def test_late_data_recomputed_and_scrape_gap_lowers_coverage():
    rig = Rig()
    node = rig.node("gpu-l", gpus=1)
    chat = rig.deployment("chat", [node], [0])
    gap = (T0 + datetime.timedelta(minutes=20), T0 + datetime.timedelta(minutes=40))
    rig.push_node(node, T0, END, gpus={0: constant(300.0)}, skip=gap)  # the agent's spool holds 20 minutes
    rig.serve(chat, node, T0, END, skip=(T0 + datetime.timedelta(minutes=10), T0 + datetime.timedelta(minutes=20)))
    rig.settle(NOW)
    hour = usage(chat, resolution=UsageBucket.HOUR).get()
    assert hour.gpu_joules == pytest.approx(300 * 40 * 60, rel=0.01)
    assert hour.gpu_coverage == pytest.approx(40 * 60, rel=0.01)
    # A 10-minute scrape gap (longer than the maximum gap): those minutes have no server coverage.
    assert hour.server_coverage == pytest.approx(50 * 60, rel=0.02)

    rig.push_node(node, gap[0], gap[1] - datetime.timedelta(seconds=10), gpus={0: constant(300.0)})
    written = rig.settle(NOW + HOUR)
    assert written < 60 * 2  # only the minutes from the backfill on are recomputed
    hour = usage(chat, resolution=UsageBucket.HOUR).get()
    assert hour.gpu_joules == pytest.approx(300 * 3600, rel=0.01)
    assert hour.gpu_coverage == pytest.approx(3600, rel=0.01)
    assert ledger.update(now=NOW + HOUR) == 0  # nothing changed: nothing touched


def test_prune_follows_rollup_retention(settings):
    rig = Rig()
    node = rig.node("gpu-x", gpus=1)
    rig.deployment("chat", [node], [0])
    rig.push_node(node, T0, T0 + 10 * MINUTE, gpus={0: constant(100.0)})
    rig.settle(T0 + 12 * MINUTE)
    assert UsageBucket.objects.filter(resolution=60).exists()
    settings.MICRODC_ROLLUP_MINUTE_RETENTION_DAYS = 1
    deleted = ledger.prune(now=T0 + datetime.timedelta(days=2))
    assert deleted["usagebucket_minutes"] > 0
    assert not UsageBucket.objects.filter(resolution=60).exists()
    assert UsageBucket.objects.filter(resolution=3600).exists()

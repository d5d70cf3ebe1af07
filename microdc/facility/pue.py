"""PUE, partial PUE, CUE and WUE the way ISO/IEC 30134-2 (and -8, -9) define them: from energy over a window.

PUE = total facility energy / IT equipment energy, over the same window; never a ratio of two instantaneous
powers. Each meter declares its boundary; the PUE category follows from where IT energy is measured
(1: UPS output, 2: PDU output, 3: IT equipment input). A meter whose data does not cover the window makes
the result incomplete, with the reason; no value is guessed.
"""

import datetime
import hashlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from microdc.nodes.models import FacilityMeter, Site
from microdc.telemetry.energy import amount_between
from microdc.telemetry.models import Source
from microdc.telemetry.rollups import floor_time, roll_up_dirty

from .models import CarbonIntensity
from .readings import meter_source_key

ROLLING_WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400, "30d": 30 * 86400}
CALENDAR_WINDOWS = ("day", "month")
WINDOWS = (*ROLLING_WINDOWS, *CALENDAR_WINDOWS)
# Share of the window the samples must cover; the rest is the interval still waiting for its next sample.
COMPLETE_COVERAGE = 0.98
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
JOULES_PER_KWH = 3.6e6
CATEGORY = {FacilityMeter.ItMeasurementPoint.UPS_OUTPUT: 1, FacilityMeter.ItMeasurementPoint.PDU_OUTPUT: 2,
            FacilityMeter.ItMeasurementPoint.IT_INPUT: 3}


@dataclass
class MeterEnergy:
    meter: int
    name: str
    kind: str
    boundary: str
    joules: float | None
    coverage_ratio: float
    method: str
    simulated: bool


@dataclass
class PueResult:
    site: int
    window: str
    start: datetime.datetime
    end: datetime.datetime
    pue: float | None = None
    complete: bool = False
    reason: str = ""
    category: int | None = None
    facility_energy_joules: float | None = None
    it_energy_joules: float | None = None
    cooling_energy_joules: float | None = None
    other_energy_joules: float | None = None
    generation_energy_joules: float | None = None
    it_source: str = "meters"
    partial_pue_cooling: float | None = None
    carbon_kg: float | None = None
    cue_kg_per_kwh: float | None = None
    carbon_intensity_g_per_kwh: float | None = None
    water_liters: float | None = None
    wue_l_per_kwh: float | None = None
    meters: list[MeterEnergy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def window_bounds(window: str, now: datetime.datetime, lag_seconds: float) -> tuple[datetime.datetime,
                                                                                     datetime.datetime]:
    """The window ends at the last whole minute whose samples have all arrived (now - lag)."""
    end = floor_time(now - datetime.timedelta(seconds=lag_seconds), 60)
    if window in ROLLING_WINDOWS:
        return end - datetime.timedelta(seconds=ROLLING_WINDOWS[window]), end
    local = timezone.localtime(end, ZoneInfo(settings.TIME_ZONE))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight if window == "day" else midnight.replace(day=1)
    return start.astimezone(datetime.UTC), end


def _meter_energy(meter: FacilityMeter, sources: dict[str, Source], start, end, counter="energy_joules",
                  gauge="power_watts", split_at=()) -> tuple[MeterEnergy, object]:
    source = sources.get(meter_source_key(meter.pk, meter.boundary_channel))
    span = (end - start).total_seconds()
    if source is None:
        return MeterEnergy(meter.pk, meter.name, meter.kind, meter.boundary, None, 0.0, "none", meter.simulated), None
    amount = amount_between(source, start, end, counter=counter, gauge=gauge, split_at=split_at)
    return (MeterEnergy(meter.pk, meter.name, meter.kind, meter.boundary, amount.total,
                        min(amount.coverage_seconds / span, 1.0), amount.method, meter.simulated), amount)


def _it_from_nodes(site: Site, start, end) -> tuple[float, float, int]:
    """IT energy as the sum of node telemetry (accelerators and node sensors' energy counters)."""
    sources = Source.objects.filter(node__rack__site=site, meter__isnull=True, node__status="active")
    total, worst, count = 0.0, 1.0, 0
    span = (end - start).total_seconds()
    for source in sources:
        if "energy_joules" not in source.last_values and "power_watts" not in source.last_values:
            continue
        amount = amount_between(source, start, end)
        total += amount.total
        worst = min(worst, amount.coverage_seconds / span)
        count += 1
    return total, worst, count


def _carbon(site: Site, amounts, result: PueResult) -> float | None:
    schedule = list(CarbonIntensity.objects.filter(site=site, valid_from__lte=result.end)
                    .order_by("valid_from").values_list("valid_from", "grams_co2e_per_kwh"))
    if not schedule:
        return None

    def intensity_at(ts):
        value = None
        for valid_from, grams in schedule:
            if valid_from > ts:
                break
            value = grams
        return value

    grams = 0.0
    for amount in amounts:
        for bucket_start, joules in amount.buckets:
            factor = intensity_at(bucket_start)
            if factor is None:
                return None
            grams += joules / JOULES_PER_KWH * factor
    result.carbon_intensity_g_per_kwh = intensity_at(result.end - datetime.timedelta(seconds=1))
    return grams / 1000.0


def site_pue(site: Site, window: str, now: datetime.datetime | None = None) -> PueResult:
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    now = now or timezone.now()
    meters = list(FacilityMeter.objects.filter(site=site, enabled=True))
    lag = max((m.poll_interval_seconds for m in meters), default=30) + 15
    start, end = window_bounds(window, now, lag)
    roll_up_dirty(sources=Source.objects.filter(key__in=[meter_source_key(m.pk, m.boundary_channel)
                                                         for m in meters]))
    return pue_between(site, start, end, window=window, meters=meters)


def settled_site_pue(site: Site, window: str, now: datetime.datetime | None = None) -> PueResult:
    """site_pue, computed once per window end and kept in the process's cache: a window ends at the last whole
    minute whose samples have all arrived, so within that minute its figure does not change. The alert rules
    (every few seconds) and every scrape of a process then pay for one computation a minute."""
    now = now or timezone.now()
    meters = list(FacilityMeter.objects.filter(site=site, enabled=True).values_list("pk", "boundary",
                                                                                   "poll_interval_seconds"))
    lag = max((interval for *_, interval in meters), default=30) + 15
    _, end = window_bounds(window, now, lag)
    which = hashlib.blake2b(repr(sorted(meters)).encode(), digest_size=8).hexdigest()  # the same in every process
    key = f"microdc:pue:{site.pk}:{window}:{end:%Y%m%dT%H%M}:{which}"
    result = cache.get(key)
    if result is None:
        result = site_pue(site, window, now)
        cache.set(key, result, 120)
    return result


def pue_between(site: Site, start: datetime.datetime, end: datetime.datetime, window: str = "",
                meters: list[FacilityMeter] | None = None) -> PueResult:
    """PUE (and CUE, WUE) of the site over [start, end), minute-aligned, from the rollups as they are now."""
    if start.second or start.microsecond or end.second or end.microsecond or not start < end:
        raise ValueError(f"the window must be minute-aligned with start before end, got {start} to {end}")
    if meters is None:
        meters = list(FacilityMeter.objects.filter(site=site, enabled=True))
    result = PueResult(site=site.pk, window=window, start=start, end=end)
    keys = [meter_source_key(m.pk, m.boundary_channel) for m in meters]
    sources = {s.key: s for s in Source.objects.filter(key__in=keys)}

    # Carbon intensity changes inside the window: energy buckets must not straddle them.
    changes = list(CarbonIntensity.objects.filter(site=site, valid_from__gt=start, valid_from__lt=end)
                   .values_list("valid_from", flat=True))
    problems: list[str] = []
    sums = {b: 0.0 for b in FacilityMeter.Boundary.values}
    grid_amounts, generation, categories = [], 0.0, []
    water_liters = None
    for meter in meters:
        if meter.kind == FacilityMeter.Kind.WATER:
            energy, _ = _meter_energy(meter, sources, start, end, counter="water_cubic_meters", gauge=None)
            if energy.joules is not None and energy.coverage_ratio >= COMPLETE_COVERAGE:
                water_liters = (water_liters or 0.0) + energy.joules * 1000
            continue
        energy, amount = _meter_energy(meter, sources, start, end, split_at=changes)
        result.meters.append(energy)
        if energy.joules is None:
            problems.append(f"{meter.name}: no readings")
            continue
        if energy.coverage_ratio < COMPLETE_COVERAGE:
            problems.append(f"{meter.name}: data covers {energy.coverage_ratio:.0%} of the window")
        sums[meter.boundary] += energy.joules
        if meter.boundary == FacilityMeter.Boundary.FACILITY_INPUT:
            if meter.kind == FacilityMeter.Kind.GENERATION:
                generation += energy.joules
            else:
                grid_amounts.append(amount)
        if meter.boundary == FacilityMeter.Boundary.IT_LOAD:
            categories.append(CATEGORY.get(meter.it_measurement_point))

    has = {b: any(m.boundary == b for m in meters if m.kind != FacilityMeter.Kind.WATER)
           for b in FacilityMeter.Boundary.values}
    if not has[FacilityMeter.Boundary.FACILITY_INPUT]:
        problems.append("no facility-input meter (utility feed) on this site")
    if has[FacilityMeter.Boundary.IT_LOAD]:
        result.it_energy_joules = sums[FacilityMeter.Boundary.IT_LOAD]
        result.category = min(c for c in categories if c) if all(categories) and categories else None
    else:
        result.it_source = "node_telemetry"
        total, worst, count = _it_from_nodes(site, start, end)
        result.notes.append(f"No IT-load meter: IT energy is the sum of {count} node telemetry sources "
                            "(accelerators and node sensors), which leaves out fans, disks and power supplies.")
        if count == 0:
            problems.append("no IT-load meter and no node telemetry")
        elif worst < COMPLETE_COVERAGE:
            problems.append(f"node telemetry covers only {worst:.0%} of the window")
        result.it_energy_joules = total
    result.facility_energy_joules = sums[FacilityMeter.Boundary.FACILITY_INPUT] if has["facility_input"] else None
    result.cooling_energy_joules = sums[FacilityMeter.Boundary.COOLING] if has["cooling"] else None
    result.other_energy_joules = sums[FacilityMeter.Boundary.OTHER] if has["other"] else None
    result.generation_energy_joules = generation if generation else None

    it = result.it_energy_joules
    if it is not None and it <= 0 and not problems:
        problems.append("IT energy over the window is zero")
    result.complete = not problems
    result.reason = "; ".join(problems)
    if not result.complete:
        return result
    result.pue = result.facility_energy_joules / it
    if result.cooling_energy_joules is not None:
        result.partial_pue_cooling = (it + result.cooling_energy_joules) / it
    carbon = _carbon(site, grid_amounts, result)
    if carbon is None:
        result.notes.append("No grid carbon intensity configured for the window: CUE not computed.")
    else:
        result.carbon_kg = carbon
        result.cue_kg_per_kwh = carbon / (it / JOULES_PER_KWH)
    if water_liters is not None:
        result.water_liters = water_liters
        result.wue_l_per_kwh = water_liters / (it / JOULES_PER_KWH)
    return result

"""The effective, location-based carbon intensity of a site's electricity in each minute (SCI).

I(m) x g + F_gen x (1 - g): I is the grid's intensity in force at the minute (facility.CarbonIntensity), g the
share of the site's facility-input energy in the minute that came from the grid rather than on-site
generation (meters of kind "generation"), F_gen the generation's own factor (setting
MICRODC_ONSITE_GENERATION_G_PER_KWH, 0 by default). Without facility-input readings for a minute, all of it
is taken as grid electricity. No intensity in force: None, never a guessed number.
"""

import datetime
import hashlib
from collections import defaultdict

from django.conf import settings

from microdc.facility.models import CarbonIntensity
from microdc.facility.readings import meter_source_key
from microdc.nodes.models import FacilityMeter, Site
from microdc.telemetry.energy import energy_method
from microdc.telemetry.models import Rollup, Source
from microdc.telemetry.rollups import floor_time

from .models import CarbonScheduleSeen

JOULES_PER_KWH = 3.6e6


class SiteCarbon:
    """Effective intensities (gCO2e/kWh) of one site over [start, end), read once."""

    def __init__(self, site: Site, start: datetime.datetime, end: datetime.datetime):
        self.schedule = list(CarbonIntensity.objects.filter(site=site, valid_from__lt=end, valid_from__gte=start)
                             .order_by("valid_from").values_list("valid_from", "grams_co2e_per_kwh"))
        before = (CarbonIntensity.objects.filter(site=site, valid_from__lt=start).order_by("-valid_from")
                  .values_list("valid_from", "grams_co2e_per_kwh").first())
        if before:
            self.schedule.insert(0, before)
        self.generation_factor = float(settings.MICRODC_ONSITE_GENERATION_G_PER_KWH)
        self.grid: dict[datetime.datetime, float] = defaultdict(float)
        self.generated: dict[datetime.datetime, float] = defaultdict(float)
        meters = FacilityMeter.objects.filter(site=site, enabled=True,
                                              boundary=FacilityMeter.Boundary.FACILITY_INPUT)
        kinds = {meter_source_key(m.pk, m.boundary_channel): m.kind for m in meters
                 if m.kind != FacilityMeter.Kind.WATER}
        sources = {s.pk: s for s in Source.objects.filter(key__in=list(kinds))}
        rows = Rollup.objects.filter(source__in=list(sources), resolution=Rollup.MINUTE, start__gte=start,
                                     start__lt=end).values_list("source_id", "start", "stats")
        for source_id, minute, stats in rows:
            source = sources[source_id]
            _, metric, key = energy_method(source)
            joules = stats.get(metric, {}).get(key, 0.0)
            into = self.generated if kinds[source.key] == FacilityMeter.Kind.GENERATION else self.grid
            into[minute] += joules

    def grid_intensity(self, minute: datetime.datetime) -> float | None:
        value = None
        for valid_from, grams in self.schedule:
            if valid_from > minute:
                break
            value = grams
        return value

    def grid_share(self, minute: datetime.datetime) -> float:
        grid, generated = self.grid.get(minute, 0.0), self.generated.get(minute, 0.0)
        total = grid + generated
        return 1.0 if total <= 0 else grid / total

    def effective(self, minute: datetime.datetime) -> float | None:
        intensity = self.grid_intensity(minute)
        if intensity is None:
            return None
        g = self.grid_share(minute)
        return intensity * g + self.generation_factor * (1 - g)


def _day_digests(site: Site, since: datetime.datetime) -> dict[str, str]:
    """A digest of the schedule's entries per UTC day from `since` on; the entry in force at `since` counts
    for since's day."""
    entries = list(CarbonIntensity.objects.filter(site=site, valid_from__gte=since).order_by("valid_from")
                   .values_list("valid_from", "grams_co2e_per_kwh"))
    before = (CarbonIntensity.objects.filter(site=site, valid_from__lt=since).order_by("-valid_from")
              .values_list("valid_from", "grams_co2e_per_kwh").first())
    days: dict = {}
    for valid_from, grams in ([before] if before else []) + entries:
        day = floor_time(max(valid_from, since), 86400).date().isoformat()
        days.setdefault(day, hashlib.sha256()).update(f"{valid_from.isoformat()}={grams!r};".encode())
    return {day: digest.hexdigest() for day, digest in days.items()}


def schedule_changed_since(site: Site, since: datetime.datetime) -> datetime.datetime | None:
    """The start of the earliest UTC day on or after `since` whose intensity schedule changed since the last
    call (None: unchanged, or the first call for this site), remembering the schedule as it is now."""
    since = floor_time(since, 86400)
    digests = _day_digests(site, since)
    seen, created = CarbonScheduleSeen.objects.get_or_create(site=site, defaults={"days": digests})
    if created:
        return None
    cutoff = since.date().isoformat()
    old = {day: digest for day, digest in seen.days.items() if day >= cutoff}
    changed = sorted(day for day in set(old) | set(digests) if old.get(day) != digests.get(day))
    if seen.days != digests:
        seen.days = digests
        seen.save(update_fields=["days"])
    if not changed:
        return None
    return datetime.datetime.fromisoformat(changed[0]).replace(tzinfo=datetime.UTC)

"""Facility meters and PUE for Prometheus, computed at scrape time from the database."""

import dataclasses
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from microdc.nodes.models import FacilityMeter, Site
from microdc.telemetry.models import Source
from microdc.telemetry.prometheus import MetricFamilies, SkippedValues

from .health import meter_status
from .pue import WINDOWS, settled_site_pue
from .readings import meter_source_key

METER_LABELS = ["site", "meter", "kind", "boundary"]
# Every quantity of every channel, as the meter reports it (UPS on battery, runtime, currents, temperatures,
# coolant flow, leaks...), for alerting rules in Prometheus itself (monitoring/prometheus/microdc.rules.yml).
CHANNEL_LABELS = ["site", "meter", "kind", "channel"]
CHANNEL_HELP = {
    "on_battery": "1 while the UPS runs on battery",
    "battery_runtime_seconds": "UPS battery runtime left at the present load",
    "battery_charge_ratio": "UPS battery charge (0-1)",
    "load_ratio": "Load as a share of capacity (0-1); pumps: speed",
    "current_amperes": "Current on the channel",
    "power_watts": "Power on the channel",
    "temperature_celsius": "Temperature on the channel (cooling: supply and return)",
    "flow_liters_per_minute": "Coolant flow",
    "leak_detected": "1 while a leak detector reports liquid",
}


def _cached_pue(site: Site, window: str):
    # Several scrapers (and the dashboard) ask within seconds of each other; the answer moves by the minute.
    return dataclasses.asdict(settled_site_pue(site, window))


class FacilityCollector(Collector):
    def __init__(self, skipped: SkippedValues):
        self.skipped = skipped

    def collect(self) -> Iterator:
        now = timezone.now()
        power = GaugeMetricFamily("microdc_facility_power_watts", "Power at the meter's PUE boundary",
                                  labels=METER_LABELS)
        energy = CounterMetricFamily("microdc_facility_energy_joules", "Energy counted at the meter's PUE boundary",
                                     labels=METER_LABELS)
        up = GaugeMetricFamily("microdc_meter_up", "1 if the meter's last poll succeeded and is recent",
                               labels=METER_LABELS)
        age = GaugeMetricFamily("microdc_meter_last_success_age_seconds", "Seconds since the meter was last read",
                                labels=METER_LABELS)
        meters = list(FacilityMeter.objects.live().select_related("site", "state"))
        sources = {s.key: s for s in Source.objects.filter(meter__isnull=False, meter__retired_at__isnull=True)}
        for meter in meters:
            labels = [meter.site.slug, meter.name, meter.kind, meter.boundary]
            extra = {"simulated": "true"} if meter.simulated else {}
            status = meter_status(meter, now)
            up.add_sample(up.name, dict(zip(METER_LABELS, labels, strict=True)) | extra, float(status["healthy"]))
            if status["last_success"]:
                age.add_sample(age.name, dict(zip(METER_LABELS, labels, strict=True)) | extra,
                               (now - status["last_success"]).total_seconds())
            source = sources.get(meter_source_key(meter.pk, meter.boundary_channel))
            if source is None or status["stale"]:
                continue  # never a frozen last value
            named = dict(zip(METER_LABELS, labels, strict=True)) | extra
            for family, metric, name in ((power, "power_watts", power.name),
                                         (energy, "energy_joules", energy.name + "_total")):
                if metric in source.last_values:
                    value = self.skipped.renderable(family.name, source.last_values[metric])
                    if value is not None:
                        family.add_sample(name, named, value)
        yield from (power, energy, up, age)
        yield from self._channels(meters, sources, now)
        yield from _pue_families(self.skipped)

    def _channels(self, meters, sources, now) -> Iterator:
        channels = MetricFamilies("microdc_meter", CHANNEL_LABELS, CHANNEL_HELP, self.skipped)
        rating = GaugeMetricFamily("microdc_meter_breaker_rating_amperes",
                                   "Rated current of the breaker behind the channel (inventory)", labels=CHANNEL_LABELS)
        by_meter: dict[int, list[Source]] = {}
        for source in sources.values():
            by_meter.setdefault(source.meter_id, []).append(source)
        for meter in meters:
            for channel, amperes in sorted((meter.breaker_ratings_amperes or {}).items()):
                rating.add_metric([meter.site.slug, meter.name, meter.kind, channel], float(amperes))
            if meter_status(meter, now)["stale"]:
                continue  # never a frozen last value
            for source in by_meter.get(meter.pk, ()):
                labels = [meter.site.slug, meter.name, meter.kind, source.sensor]
                for metric, value in source.last_values.items():
                    channels.add(metric, labels, value, meter.simulated)
        yield from channels.families.values()
        yield rating


def _pue_families(skipped: SkippedValues):
    pue = GaugeMetricFamily("microdc_pue_ratio", "PUE over the window (ISO/IEC 30134-2, from energy)",
                            labels=["site", "window"])
    complete = GaugeMetricFamily("microdc_pue_complete", "1 if every meter covered the window",
                                 labels=["site", "window"])
    ppue = GaugeMetricFamily("microdc_partial_pue_cooling_ratio", "Partial PUE of the cooling subsystem",
                             labels=["site", "window"])
    cue = GaugeMetricFamily("microdc_cue_kilograms_per_kilowatt_hour", "Carbon usage effectiveness (kgCO2e/kWh IT)",
                            labels=["site", "window"])
    for site in Site.objects.all():
        for window in WINDOWS:
            result = _cached_pue(site, window)
            labels = [site.slug, window]
            complete.add_metric(labels, float(result["complete"]))
            for family, key in ((pue, "pue"), (ppue, "partial_pue_cooling"), (cue, "cue_kg_per_kwh")):
                if result[key] is not None and (value := skipped.renderable(family.name, result[key])) is not None:
                    family.add_metric(labels, value)
    yield from (pue, complete, ppue, cue)

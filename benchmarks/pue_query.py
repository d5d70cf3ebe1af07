"""Benchmark: PUE over 30 days of 1-minute history (and the shorter windows), on SQLite and PostgreSQL.

Builds a site with a utility feed, two PDUs (IT load), a cooling unit and a UPS, each with 30 days of
1-minute and 1-hour rollups (what 30 days of polling leaves), then times site_pue() per window.

Rerun:  .venv/bin/python benchmarks/pue_query.py [--backend sqlite|postgresql|both]
"""

import datetime
import json
import statistics
import time

from harness import backend_command, print_rerun, run_inner, setup_django

PG_DB = "microdc_bench_pue"
DAYS = 30
METERS = [("Utility feed", "utility_feed", "facility_input", "", 12_000.0),
          ("PDU 1", "pdu", "it_load", "pdu_output", 5_000.0), ("PDU 2", "pdu", "it_load", "pdu_output", 4_600.0),
          ("Cooling", "cooling_unit", "cooling", "", 1_500.0), ("UPS", "ups", "other", "", 10_000.0)]


def build(now: datetime.datetime) -> int:
    from microdc.facility.readings import meter_source_key
    from microdc.nodes.models import FacilityMeter, Site
    from microdc.telemetry.models import Rollup, Source

    site = Site.objects.create(name="Bench", slug="bench")
    end = now.replace(second=0, microsecond=0)
    start = end - datetime.timedelta(days=DAYS, hours=1)
    rows = 0
    for name, kind, boundary, point, watts in METERS:
        meter = FacilityMeter.objects.create(site=site, name=name, kind=kind, boundary=boundary,
                                             it_measurement_point=point, protocol="push", poll_interval_seconds=30)
        source = Source.objects.create(key=meter_source_key(meter.pk, ""), meter=meter,
                                       last_values={"energy_joules": 0.0, "power_watts": watts}, last_ts=end)
        minutes, hours = [], []
        t = start
        while t < end:
            stats = {"energy_joules": {"delta": watts * 60, "last": 0.0},
                     "power_watts": {"n": 2, "min": watts, "max": watts, "sum": 2 * watts, "integral": watts * 60}}
            minutes.append(Rollup(source=source, resolution=60, start=t, coverage=60.0, stats=stats))
            if t.minute == 0:
                hour_stats = {"energy_joules": {"delta": watts * 3600, "last": 0.0},
                              "power_watts": {"n": 120, "min": watts, "max": watts, "sum": 120 * watts,
                                              "integral": watts * 3600}}
                hours.append(Rollup(source=source, resolution=3600, start=t, coverage=3600.0, stats=hour_stats))
            t += datetime.timedelta(minutes=1)
        Rollup.objects.bulk_create(minutes, batch_size=5000)
        Rollup.objects.bulk_create(hours, batch_size=5000)
        rows += len(minutes) + len(hours)
    return site.pk, rows


def inner() -> None:
    setup_django()
    from django.utils import timezone

    from microdc.facility.pue import WINDOWS, site_pue
    from microdc.nodes.models import Site

    now = timezone.now()
    site_id, rows = build(now)
    site = Site.objects.get(pk=site_id)
    timings = {}
    for window in WINDOWS:
        runs = []
        for _ in range(5):
            began = time.perf_counter()
            result = site_pue(site, window, now=now)
            runs.append(time.perf_counter() - began)
        timings[window] = {"ms": statistics.median(runs) * 1e3, "pue": result.pue, "complete": result.complete}
    print(json.dumps({"rows": rows, "timings": timings}))


def main() -> None:
    chosen = backend_command(__doc__, inner)
    if chosen is None:
        return
    for backend in chosen:
        result = run_inner(__file__, backend, PG_DB)
        line = ", ".join(f"{w} {t['ms']:.1f} ms" for w, t in result["timings"].items())
        thirty = result["timings"]["30d"]
        print(f"[{backend}] {len(METERS)} meters, {DAYS} days of 1-minute history ({result['rows']:,} rollup rows): "
              f"{line}; 30d PUE {thirty['pue']:.4f} complete={thirty['complete']}")
    print_rerun(__file__)


if __name__ == "__main__":
    main()

"""Hand-made usage ledger rows and metered sites with a known PUE, for the report's tests and benchmark.

The ledger itself (energy.ledger) is tested against a simulated rig; here the rows are written directly so
each figure of the report can be checked against arithmetic done by hand.
"""

import datetime

from microdc.energy.models import UsageBucket
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading
from microdc.nodes.models import FacilityMeter
from microdc.telemetry.rollups import roll_up_dirty

KWH = 3.6e6
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)


def usage(deployment, node, start, resolution=UsageBucket.MINUTE, **figures) -> UsageBucket:
    """One ledger row; counts and coverage scale with the bucket unless given."""
    seconds = resolution
    defaults = {"gpu_coverage": seconds, "node_coverage": seconds, "server_coverage": seconds,
                "rules": ["gpu:exclusive", "node:psu"]}
    return UsageBucket(deployment=deployment, node=node, resolution=resolution, start=start,
                       **(defaults | figures))


def minutes(deployment, node, start, count, **figures) -> list[UsageBucket]:
    return [usage(deployment, node, start + i * MINUTE, **figures) for i in range(count)]


def scaled(figures: dict, factor: float) -> dict:
    """A minute's figures times `factor` (an hour row: factor 60), latency histograms included."""
    out = {k: (v * factor if isinstance(v, float | int) else v) for k, v in figures.items()}
    if "latency" in figures:
        out["latency"] = {k: v * factor for k, v in figures["latency"].items()}
    return out


def metered_site(site, start, end, pue=1.3, it_kwh_per_hour=10.0):
    """A utility feed and an IT-load PDU whose counters make the site's PUE `pue` over [start, end)."""
    feed = FacilityMeter.objects.create(site=site, name="Utility feed", kind="utility_feed",
                                        boundary="facility_input", protocol="push", poll_interval_seconds=60)
    pdu = FacilityMeter.objects.create(site=site, name="PDU A", kind="pdu", boundary="it_load",
                                       it_measurement_point="pdu_output", protocol="push", poll_interval_seconds=60)
    step = it_kwh_per_hour * KWH / 60
    t, it = start - MINUTE, 1e6
    while t <= end + MINUTE:
        store_meter_readings(pdu, t, [Reading("energy_joules", it)])
        store_meter_readings(feed, t, [Reading("energy_joules", it * pue)])
        t, it = t + MINUTE, it + step
    roll_up_dirty(now=end + HOUR)

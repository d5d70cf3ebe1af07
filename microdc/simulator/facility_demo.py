"""Serve the demo site's facility meters through the real protocols on loopback, and point the seeded
FacilityMeters at them, so the demo's PUE comes out of the real meter and PUE code.

The simulated facility's IT load follows the simulated nodes' telemetry (GPU power plus a per-node share for
CPUs, fans and drives, each node on its own PDU outlet), so the PUE moves with the GPUs. The meters' counters
continue from what the store last holds (a previous run, or the backfill), so they never appear to reset.
"""

import threading
import time

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q

from microdc.core import audit
from microdc.facility.readings import meter_source_key
from microdc.nodes.models import FacilityMeter, Node
from microdc.telemetry.models import Source

from .demo_power import rack_outlets
from .demo_site import SOLAR_PEAK_WATTS
from .facility import SimulatedFacility, start_simulated_facility

REFRESH_SECONDS = 2.0


def counter_channels(racks) -> dict[str, tuple[str, str]]:
    """The facility model's energy counters -> (demo meter name, channel) that reports each."""
    channels = {"utility": ("Utility feed", ""), "cooling": ("Cooling unit", ""), "solar": ("Solar array", "")}
    for rack in racks:
        channels[f"pdu.{rack}"] = (f"PDU {rack}", "")
        channels |= {f"outlet.{rack}.{n}": (f"PDU {rack}", f"outlet.{n}") for n in range(1, 5)}
    return channels


class TelemetryItPower:
    """IT power per rack (watts) from the simulated nodes' latest GPU power.

    A thread of its own refreshes the value from the database: the protocol servers ask from their event
    loops, where no database call may be made.
    """

    def __init__(self, stop: threading.Event, fallback_watts: float = 11000.0):
        self.fallback_watts = fallback_watts
        self._value: dict[str, float] | float = fallback_watts
        self._value = self._read()
        threading.Thread(target=self._refresh, args=(stop,), name="it-power", daemon=True).start()

    def __call__(self, unix_time: float) -> dict[str, float] | float:
        return self._value

    def _refresh(self, stop: threading.Event) -> None:
        while not stop.wait(REFRESH_SECONDS):
            self._value = self._read()

    def _read(self) -> dict[str, list[float]] | float:
        try:
            gpu_watts = dict.fromkeys(Node.objects.filter(simulated=True).values_list("hostname", flat=True), 0.0)
            rows = Source.objects.filter(node__simulated=True, accelerator__isnull=False).values_list(
                "node__hostname", "last_values")
            for hostname, values in rows:
                gpu_watts[hostname] = gpu_watts.get(hostname, 0.0) + values.get("power_watts", 0.0)
            return rack_outlets(gpu_watts) if gpu_watts else self.fallback_watts
        finally:
            close_old_connections()


def _resume_counters(facility: SimulatedFacility, racks) -> None:
    """Start the meters' counters where the store left them; across a gap longer than the rollups bridge
    the counters just carry on (that time counts for nothing anyway)."""
    now = time.time()
    meters = {m.name: m.pk for m in FacilityMeter.objects.filter(simulated=True)}
    keys = {name: meter_source_key(meters[meter], channel)
            for name, (meter, channel) in counter_channels(racks).items() if meter in meters}
    sources = {s.key: s for s in Source.objects.filter(key__in=keys.values(), last_ts__isnull=False)}
    energy, latest = {}, None
    for name, key in keys.items():
        source = sources.get(key)
        if source is not None and "energy_joules" in source.last_values:
            energy[name] = source.last_values["energy_joules"]
            latest = max(latest or source.last_ts, source.last_ts)
    if energy:
        at = latest.timestamp()
        facility.model.resume(energy, at if now - at <= settings.MICRODC_TELEMETRY_MAX_GAP_SECONDS else now)


def start_demo_facility(stop: threading.Event) -> SimulatedFacility:
    racks = sorted(set(Node.objects.filter(simulated=True).values_list("rack__name", flat=True))) or ["A01"]
    facility = start_simulated_facility(TelemetryItPower(stop), racks=racks, solar_peak_watts=SOLAR_PEAK_WATTS)
    _resume_counters(facility, racks)
    with transaction.atomic():
        for endpoint in facility.endpoints:
            meter = FacilityMeter.objects.filter(Q(name=endpoint.name), simulated=True).first()
            if meter is None:
                continue
            before = audit.snapshot(meter)
            meter.kind, meter.boundary = endpoint.kind, endpoint.boundary
            meter.it_measurement_point = endpoint.it_measurement_point
            meter.boundary_channel = endpoint.channel
            meter.protocol, meter.host, meter.port = endpoint.protocol, endpoint.host, endpoint.port
            meter.settings, meter.secret = endpoint.settings, endpoint.secret
            meter.poll_interval_seconds, meter.enabled = 10, True
            meter.save()
            changes = audit.diff(meter, before, audit.snapshot(meter))
            if changes:
                audit.record(actor=None, source="system", action="update", instance=meter, changes=changes)
    return facility

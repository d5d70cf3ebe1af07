"""Serve the demo site's facility meters through the real protocols on loopback, and point the seeded
FacilityMeters at them, so the demo's PUE comes out of the real meter and PUE code.

The simulated facility's IT load follows the simulated nodes' telemetry (GPU power plus a per-node share for
CPUs, fans and drives), so the PUE moves with the GPUs.
"""

import threading

from django.db import close_old_connections, transaction
from django.db.models import Q

from microdc.core import audit
from microdc.nodes.models import FacilityMeter, Node
from microdc.telemetry.models import Source

from .facility import SimulatedFacility, start_simulated_facility

NODE_BASE_WATTS = 450.0  # CPUs, memory, fans, drives of a 4U GPU server, besides its GPUs
REFRESH_SECONDS = 2.0


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

    def _read(self) -> dict[str, float] | float:
        try:
            per_rack: dict[str, float] = {}
            for node in Node.objects.filter(simulated=True).select_related("rack"):
                per_rack[node.rack.name] = per_rack.get(node.rack.name, 0.0) + NODE_BASE_WATTS
            rows = Source.objects.filter(node__simulated=True, accelerator__isnull=False).values_list(
                "node__rack__name", "last_values")
            for rack, values in rows:
                per_rack[rack] = per_rack.get(rack, 0.0) + values.get("power_watts", 0.0)
            return per_rack or self.fallback_watts
        finally:
            close_old_connections()


def start_demo_facility(stop: threading.Event) -> SimulatedFacility:
    racks = sorted(set(Node.objects.filter(simulated=True).values_list("rack__name", flat=True))) or ["A01"]
    facility = start_simulated_facility(TelemetryItPower(stop), racks=racks)
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

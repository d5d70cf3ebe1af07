"""A small site for the alert tests: a node with two GPUs, a UPS, a PDU and a cooling unit, whose latest
values a test sets directly at a time of its choosing (telemetry's last values, as ingest and the poller
leave them)."""

import datetime

from django.utils import timezone

from microdc.facility.models import MeterState
from microdc.facility.readings import meter_source_key
from microdc.nodes.models import Accelerator, FacilityMeter, Node
from microdc.telemetry.models import AgentState, Source

T0 = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=2)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


class Site:
    def __init__(self, site, rack):
        self.site, self.rack = site, rack
        self.node = Node.objects.create(hostname="gpu-a01", management_address="10.0.0.1", rack=rack, position_u=10,
                                        created=at(-3600))
        self.gpus = [Accelerator.objects.create(node=self.node, index=i, vendor="nvidia", model="H100",
                                                uuid=f"GPU-0000-{i}") for i in range(2)]
        self.ups = self.meter("UPS-1", "ups", "it_load", it_measurement_point="ups_output")
        self.pdu = self.meter("PDU-A", "pdu", "other", rack=rack, breaker_ratings_amperes={"branch.1": 16.0})
        self.cdu = self.meter("CDU-1", "cooling_unit", "cooling", rack=rack)

    def meter(self, name, kind, boundary, **extra):
        meter = FacilityMeter.objects.create(site=self.site, name=name, kind=kind, boundary=boundary,
                                             protocol="push", poll_interval_seconds=10, **extra)
        MeterState.objects.create(meter=meter, last_success=at(0), last_attempt=at(0))
        return meter

    def agent(self, t: float) -> None:
        AgentState.objects.update_or_create(node=self.node, defaults={"last_seen": at(t)})

    def gpu(self, index: int, t: float, throttle=(), **values) -> None:
        """GPU `index` reports `values` at t (and its agent pushed then)."""
        accelerator = self.gpus[index]
        Source.objects.update_or_create(key=f"gpu/{accelerator.uuid}", defaults=dict(
            node=self.node, accelerator=accelerator, last_ts=at(t),
            last_values={"power_watts": 300.0, "temperature_celsius": 60.0, **values},
            last_attributes={"throttle_reasons": list(throttle)}))
        self.agent(t)

    def channel(self, meter, channel: str, t: float, states=None, **values) -> None:
        Source.objects.update_or_create(key=meter_source_key(meter.pk, channel), defaults=dict(
            meter=meter, sensor=channel, last_ts=at(t), last_values=values,
            last_attributes={"states": states} if states else {}))
        MeterState.objects.filter(meter=meter).update(last_success=at(t), last_attempt=at(t), last_error="")

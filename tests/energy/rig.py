"""A simulated rig with known answers, driven through the real paths: agent batches through telemetry ingest,
model-server counters through telemetry.store (as energy.scrape stores them), meter readings through
facility.readings, then the real rollups, reservations and ledger.

Power is a function of time (constant within each sample step), and every energy counter is its exact
integral, so the energy of any whole minute is known in closed form: a test states the answer it expects.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django.db import transaction

from microdc.energy import ledger
from microdc.energy.models import ModelServer, model_server_source_key
from microdc.energy.reservations import sync_reservations
from microdc.facility.readings import store_meter_readings
from microdc.facility.sources.base import Reading as MeterReading
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site
from microdc.provisioning.models import Deployment, DeploymentRevision
from microdc.telemetry.ingest import ingest_batch
from microdc.telemetry.models import Source
from microdc.telemetry.rollups import roll_up_dirty
from microdc.telemetry.store import Reading, sources_by_key, store
from tests.telemetry import factories

UTC = datetime.UTC
T0 = datetime.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
EPOCH = T0 - datetime.timedelta(days=1)  # where every simulated energy counter starts
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
Watts = Callable[[datetime.datetime], float]


def constant(value: float) -> Callable[[datetime.datetime], float]:
    return lambda t: value


def between(start: datetime.datetime, end: datetime.datetime, inside: float, outside: float = 0.0):
    """A step function: `inside` in [start, end), else `outside`."""
    return lambda t: inside if start <= t < end else outside


def _times(start: datetime.datetime, end: datetime.datetime, step: float, skip=None):
    t = start
    while t <= end:
        if skip is None or not skip[0] <= t < skip[1]:
            yield t
        t += datetime.timedelta(seconds=step)


class Rig:
    def __init__(self, name: str = "rig"):
        self.site = Site.objects.create(name=f"Site {name}", slug=name, simulated=True)
        self.rack = Rack.objects.create(site=self.site, name="R1", simulated=True)
        self._next_u = 1
        self._energy: dict[tuple, float] = {}  # running counters, so a later push continues them
        self._served: dict[tuple, dict[str, float]] = {}

    # -- inventory -------------------------------------------------------------------------------------

    def node(self, hostname: str, gpus: int = 0, **fields) -> Node:
        node = Node.objects.create(hostname=hostname, management_address="127.0.0.1", rack=self.rack,
                                   position_u=self._next_u, height_u=2, simulated=True, **fields)
        self._next_u += 2
        for index in range(gpus):
            Accelerator.objects.create(node=node, index=index, vendor="nvidia", model="Simulated H100",
                                       uuid=self.gpu_uuid(node, index), simulated=True)
        return node

    @staticmethod
    def gpu_uuid(node: Node, index: int) -> str:
        return f"GPU-SIM-{node.hostname}-{index}"

    def meter(self, name: str, kind: str, boundary: str, **fields) -> FacilityMeter:
        if boundary == FacilityMeter.Boundary.IT_LOAD:
            fields.setdefault("it_measurement_point", FacilityMeter.ItMeasurementPoint.PDU_OUTPUT)
        return FacilityMeter.objects.create(site=self.site, name=name, kind=kind, boundary=boundary,
                                            protocol=FacilityMeter.Protocol.PUSH, simulated=True, **fields)

    def deployment(self, name: str, nodes: list[Node], accelerators: list[int], runtime: str = "vllm",
                   since: datetime.datetime = T0) -> Deployment:
        """A healthy deployment holding `accelerators` (indices) on each of `nodes` from `since`."""
        deployment = Deployment.objects.create(name=name, runtime=runtime, status=Deployment.Status.HEALTHY)
        revision = DeploymentRevision.objects.create(deployment=deployment, number=1, artifact="/models/x",
                                                     artifact_sha256="0" * 64, port=8000,
                                                     accelerators=accelerators)
        revision.nodes.set(nodes)
        deployment.current_revision = revision
        deployment.save(update_fields=["current_revision"])
        sync_reservations(now=since)
        return deployment

    # -- telemetry -------------------------------------------------------------------------------------

    def push_node(self, node: Node, start: datetime.datetime, end: datetime.datetime, step: float = 10.0,
                  gpus: dict[int, Watts] | None = None, psu: Watts | None = None, rapl: Watts | None = None,
                  dram: Watts | None = None, processes: dict[tuple[int, str], Watts] | None = None,
                  gpu_counter: bool = True, skip=None) -> None:
        """Send the node's agent batches for samples at start, start+step, ..., end (not those in `skip`,
        a [from, to) pair), through the real ingest. Power is held from each sample to the next."""
        gpus, processes = gpus or {}, processes or {}
        samples = []
        for t in _times(start, end, step, skip):
            devices = []
            for index, watts in sorted(gpus.items()):
                metrics = {"power_watts": watts(t)}
                if gpu_counter:
                    metrics["energy_joules"] = self._counter((node.pk, "gpu", index), t, watts, step)
                devices.append(factories.gpu(index, self.gpu_uuid(node, index), **metrics) | {"simulated": True})
                if not gpu_counter:
                    devices[-1]["metrics"].pop("energy_joules")
            sensors = []
            if psu is not None:
                sensors.append({"source": "hwmon", "chip": "dps460", "name": "pin", "simulated": True,
                                "metrics": {"power_watts": psu(t)}})
            for zone, name, watts in (("intel-rapl:0", "package-0", rapl), ("intel-rapl:0:2", "dram", dram)):
                if watts is not None:
                    sensors.append({"source": "rapl", "chip": zone, "name": name, "simulated": True, "metrics": {
                        "energy_joules": self._counter((node.pk, zone), t, watts, step),
                        "power_watts": watts(t)}})
            for (index, deployment_name), utilization in sorted(processes.items()):
                sensors.append({"source": "nvml-process", "chip": self.gpu_uuid(node, index),
                                "name": f"microdc-model-{deployment_name}", "simulated": True,
                                "metrics": {"sm_utilization_ratio": utilization(t)}})
            samples.append(factories.sample(t, devices, sensors))
        for i in range(0, len(samples), 1000):
            ingest_batch(node, factories.batch(node.hostname, samples[i:i + 1000]), now=end + MINUTE)

    def _counter(self, key, t: datetime.datetime, watts: Watts, step: float) -> float:
        """The energy counter at t: 1 MJ at EPOCH plus the exact integral of power held over each step of
        the grid EPOCH + k x step; a function of t alone, so data pushed late (backfill) agrees with it."""
        last = self._energy.get(key)
        at, value = last if last is not None and last[0] <= t else (EPOCH, 1.0e6)
        delta = datetime.timedelta(seconds=step)
        while at < t:
            value += watts(at) * step
            at += delta
        self._energy[key] = (t, value)
        return value

    def serve(self, deployment: Deployment, node: Node, start: datetime.datetime, end: datetime.datetime,
              step: float = 10.0, rates: dict[str, Callable[[datetime.datetime], float]] | None = None,
              restart_at: datetime.datetime | None = None, skip=None) -> Source:
        """Store the deployment's server counters on the node (canonical names, per-second `rates`), as the
        scraper does. A restart sets every counter back to zero at `restart_at`."""
        rates = rates if rates is not None else {"requests_total": constant(2.0),
                                                 "generation_tokens_total": constant(100.0)}
        key = model_server_source_key(deployment.pk, node.pk)
        counters = self._served.setdefault(key, {name: 0.0 for name in rates})
        readings = []
        with transaction.atomic():
            source = sources_by_key({key: {"node": node, "sensor": f"model/{deployment.name}",
                                           "simulated": True}})[key]
            ModelServer.objects.update_or_create(deployment=deployment, node=node, defaults={
                "runtime": deployment.runtime, "source": source})
            previous = None
            for t in _times(start, end, step):
                if previous is not None:
                    for name, rate in rates.items():
                        counters[name] += rate(previous) * (t - previous).total_seconds()
                if restart_at is not None and previous is not None and previous < restart_at <= t:
                    # The server restarted: its counters count from zero what it served since.
                    for name, rate in rates.items():
                        counters[name] = rate(restart_at) * (t - restart_at).total_seconds()
                previous = t
                if skip is None or not skip[0] <= t < skip[1]:
                    readings.append(Reading(source, t, dict(counters)))
            store(readings)
        return source

    def push_meter(self, meter: FacilityMeter, start: datetime.datetime, end: datetime.datetime, watts: Watts,
                   step: float = 30.0, channel: str = "") -> None:
        channel = channel or meter.boundary_channel
        for t in _times(start, end, step):
            joules = self._counter((meter.pk, channel), t, watts, step)
            store_meter_readings(meter, t, [MeterReading("energy_joules", joules, channel),
                                            MeterReading("power_watts", watts(t), channel)])

    # -- the ledger ------------------------------------------------------------------------------------

    @staticmethod
    def settle(now: datetime.datetime) -> int:
        """Roll up everything stored, then update the ledger, as the worker does."""
        while roll_up_dirty(now=now):
            pass
        return ledger.update(now=now)

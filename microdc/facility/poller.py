"""Poll the facility meters: each on its own interval, in a thread pool, so one slow or dead meter never
delays the others. A failing meter is retried with exponential backoff (capped at its interval x 10).

`Poller.tick()` is called by the worker's periodic loop every second; it starts the meters that are due and
collects the ones that finished.
"""

import concurrent.futures
import datetime
import logging
import time
from dataclasses import dataclass

from django.db import close_old_connections, transaction
from django.utils import timezone

from microdc.nodes.models import FacilityMeter

from .models import MeterState
from .readings import store_meter_readings
from .sources.base import MeterError, get_source

log = logging.getLogger(__name__)
MAX_BACKOFF_FACTOR = 10
POLLED_PROTOCOLS = ("redfish", "snmp", "modbus", "promql")


@dataclass(frozen=True)
class PollOutcome:
    meter_id: int
    ok: bool
    readings: int
    error: str
    seconds: float


def poll_meter(meter: FacilityMeter, now: datetime.datetime | None = None) -> PollOutcome:
    """Read one meter once, store what it returned, and record its health."""
    started = time.monotonic()
    try:
        source = get_source(meter.protocol)
        readings = source.read(meter.host, meter.port, meter.settings, meter.secret, meter.timeout_seconds)
        if not readings:
            raise MeterError("the meter answered but returned no readings")
        ts = now or timezone.now()
        stored = len(readings)
        store_meter_readings(meter, ts, readings)
        error = ""
    except MeterError as exc:
        stored, error = 0, str(exc)
    except Exception as exc:  # a bug in a source must not stop the poller; it shows on the meter instead
        log.exception("meter %s: unexpected error", meter.name)
        stored, error = 0, f"internal error: {type(exc).__name__}: {exc}"
    seconds = time.monotonic() - started
    _record(meter, error, seconds)
    return PollOutcome(meter.pk, not error, stored, error, seconds)


def _record(meter: FacilityMeter, error: str, seconds: float) -> None:
    now = timezone.now()
    with transaction.atomic():
        state, _ = MeterState.objects.select_for_update().get_or_create(meter=meter)
        state.last_attempt = now
        state.last_duration_seconds = seconds
        if error:
            state.consecutive_failures += 1
            state.last_error = error[:2000]
            delay = meter.poll_interval_seconds * min(2 ** (state.consecutive_failures - 1), MAX_BACKOFF_FACTOR)
            if state.consecutive_failures == 1:
                log.warning("meter %s (%s) failed: %s", meter.name, meter.protocol, error)
        else:
            if state.consecutive_failures:
                log.info("meter %s recovered after %d failures", meter.name, state.consecutive_failures)
            state.consecutive_failures = 0
            state.last_success = now
            state.last_error = ""
            delay = meter.poll_interval_seconds
        state.next_poll = now + datetime.timedelta(seconds=delay)
        state.save()


def _polled_in_thread(meter_id: int) -> PollOutcome:
    try:
        meter = FacilityMeter.objects.get(pk=meter_id)
        return poll_meter(meter)
    finally:
        close_old_connections()


class Poller:
    def __init__(self, max_workers: int = 16):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="meter")
        self.in_flight: dict[int, concurrent.futures.Future] = {}

    def due_meters(self) -> list[int]:
        now = timezone.now()
        meters = FacilityMeter.objects.filter(enabled=True, protocol__in=POLLED_PROTOCOLS).exclude(
            state__next_poll__gt=now)
        return [pk for pk in meters.values_list("pk", flat=True) if pk not in self.in_flight]

    def tick(self) -> int:
        """Start what is due; forget what finished. Returns the number of meters started."""
        for pk, future in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[pk]
                if future.exception():
                    log.error("meter %s poll crashed: %s", pk, future.exception())
        started = 0
        for pk in self.due_meters():
            self.in_flight[pk] = self.pool.submit(_polled_in_thread, pk)
            started += 1
        return started

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

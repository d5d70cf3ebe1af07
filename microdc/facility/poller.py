"""Poll the facility meters: each on its own interval, in a thread pool, so one slow or dead meter never
delays the others. A failing meter is retried with exponential backoff (capped at its interval x 10).

`Poller.tick()` is called by the worker's periodic loop every second; it claims the meters that are due (in
turn with any other worker: poll_leases), starts their reads and stores the ones that finished.
"""

import concurrent.futures
import datetime
import logging
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from microdc.nodes.models import FacilityMeter

from . import poll_leases
from .models import MeterState
from .readings import store_meter_readings
from .sources.base import MeterError, get_source

log = logging.getLogger(__name__)
MAX_BACKOFF_FACTOR = 10
# Reads take milliseconds and are stored on the next tick (a second later), so each thread serves several a tick.
IN_FLIGHT_PER_THREAD = 4


@dataclass(frozen=True)
class PollOutcome:
    meter_id: int
    ok: bool
    readings: int
    error: str
    seconds: float


@dataclass(frozen=True)
class MeterRead:
    """What one read of a meter gave: readings, or the reason it failed."""

    readings: list
    error: str
    seconds: float
    ts: datetime.datetime


def read_meter(protocol: str, host: str, port: int | None, settings: dict, secret: dict,
               timeout: float) -> MeterRead:
    """Network only, no database: safe to run in a pool thread."""
    started = time.monotonic()
    try:
        readings = get_source(protocol).read(host, port, settings, secret, timeout)
        if not readings:
            raise MeterError("the meter answered but returned no readings")
        error = ""
    except MeterError as exc:
        readings, error = [], str(exc)
    except Exception as exc:  # a bug in a source must not stop the poller; it shows on the meter instead
        log.exception("%s meter at %s: unexpected error", protocol, host)
        readings, error = [], f"internal error: {type(exc).__name__}: {exc}"
    return MeterRead(readings, error, time.monotonic() - started, timezone.now())


def _read(meter: FacilityMeter) -> MeterRead:
    return read_meter(meter.protocol, meter.host, meter.port, meter.settings, meter.secret, meter.timeout_seconds)


def record_read(meter: FacilityMeter, read: MeterRead, claim: str | None = None) -> PollOutcome:
    """Store a read's readings and the meter's health (in the caller's thread: one writer), ending the poll
    lease `claim` took."""
    if read.readings:
        store_meter_readings(meter, read.ts, read.readings)
    _record(meter, read.error, read.seconds, claim)
    return PollOutcome(meter.pk, not read.error, len(read.readings), read.error, read.seconds)


def poll_meter(meter: FacilityMeter) -> PollOutcome:
    """Read one meter now, store what it returned, and record its health."""
    return record_read(meter, _read(meter))


def _record(meter: FacilityMeter, error: str, seconds: float, claim: str | None) -> None:
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
        poll_leases.release(state, claim)
        state.save()


class Poller:
    """Reads run in a thread pool (network only); their results are stored by the thread that calls tick(),
    so the database has one writer however many meters are in flight."""

    def __init__(self, max_workers: int = 16):
        self.max_workers = max_workers
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="meter")
        self.in_flight: dict[int, tuple[FacilityMeter, str, concurrent.futures.Future]] = {}

    def collect(self) -> int:
        """Store the reads that finished. Returns how many."""
        done = 0
        for pk, (meter, claim, future) in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[pk]
                record_read(meter, future.result(), claim)
                done += 1
        return done

    def tick(self) -> int:
        """Store what finished, claim and start what is due. Returns the number of meters started.
        A worker holds at most IN_FLIGHT_PER_THREAD reads per thread (queued in the pool), so that a second
        worker finds meters to share, and a worker with a full pool leaves the rest to the others."""
        self.collect()
        free = self.max_workers * IN_FLIGHT_PER_THREAD - len(self.in_flight)
        if free <= 0:
            return 0
        claim, meters = poll_leases.claim_due(timezone.now(), exclude=set(self.in_flight), limit=free)
        for meter in meters:
            self.in_flight[meter.pk] = (meter, claim, self.pool.submit(_read, meter))
        return len(meters)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

"""Periodic background work: a small loop that runs each job on its interval, isolated from the others.

Jobs are plain service functions; a failing job is logged and tried again on its next turn. Several workers
may run the same list (PostgreSQL): a job that must run once per turn site-wide takes its turn first
(microdc.core.turns); a `shared` job runs in every worker because it shares its work out itself, item by item
(meters by poll lease, sources by rollup claim, notifications by delivery lease).

Jobs run in lanes, one thread each: the dispatch lane's jobs hand network reads to thread pools and store what
came back, and must keep their second's pace; a rollup or a ledger pass that takes seconds runs in the compute
lane and holds up nothing but its lane.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

from microdc.core import turns

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    interval: float
    run: Callable[[], object]
    shared: bool = False
    lane: str = "compute"
    next_due: float = field(default=0.0)


def run_once(job: Job) -> None:
    """One turn of the job, if this worker gets it."""
    if not job.shared and not turns.take(job.name, job.interval):
        return
    started = time.perf_counter()
    error = ""
    try:
        result = job.run()
    except Exception as exc:
        log.exception("periodic job %s failed", job.name)
        error = f"{type(exc).__name__}: {exc}"
    else:
        log.debug("periodic job %s: %s in %.3f s", job.name, result, time.perf_counter() - started)
    if not job.shared:
        turns.end(job.name, error)


def run_forever(jobs: list[Job], stop: threading.Event, tick: float = 0.5) -> None:
    while not stop.is_set():
        now = time.monotonic()
        for job in jobs:
            if now < job.next_due:
                continue
            job.next_due = now + job.interval
            close_old_connections()
            try:
                run_once(job)
            except Exception:  # the turn table itself unreachable (database down): try again next tick
                log.exception("periodic job %s: could not take its turn", job.name)
        stop.wait(tick)


def run_lanes(jobs: list[Job], stop: threading.Event) -> None:
    """Run each lane's jobs in a thread of its own until `stop` is set."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
    threads = [threading.Thread(target=_lane, args=(lane, lane_jobs, stop), name=f"periodic-{lane}")
               for lane, lane_jobs in lanes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _lane(lane: str, jobs: list[Job], stop: threading.Event) -> None:
    from django.db import connections

    try:
        run_forever(jobs, stop)
    except BaseException:
        log.exception("periodic lane %s stopped", lane)
        stop.set()  # one lane dead stops the process, so its supervisor restarts the whole worker
        raise
    finally:
        connections.close_all()

"""Periodic background work: a small loop that runs each job on its interval, isolated from the others.

Jobs are plain service functions; a failing job is logged and tried again on its next turn.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    interval: float
    run: Callable[[], object]
    next_due: float = field(default=0.0)


def run_forever(jobs: list[Job], stop: threading.Event, tick: float = 0.5) -> None:
    while not stop.is_set():
        now = time.monotonic()
        for job in jobs:
            if now < job.next_due:
                continue
            job.next_due = now + job.interval
            close_old_connections()
            started = time.perf_counter()
            try:
                result = job.run()
            except Exception:
                log.exception("periodic job %s failed", job.name)
                continue
            log.debug("periodic job %s: %s in %.3f s", job.name, result, time.perf_counter() - started)
        stop.wait(tick)

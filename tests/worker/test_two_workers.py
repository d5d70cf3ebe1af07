"""Two real workers (`manage.py run_worker`, as `make run` starts them) poll 50 meters together: each meter is
read by one of them at a time, once per interval; one worker killed, the other takes every meter over within two
poll intervals."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from microdc.core.models import JobTurn
from microdc.facility.models import MeterState
from microdc.nodes.models import FacilityMeter
from tests.support import PromQLPeer, shared_database_url, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
METERS = 50
INTERVAL = 3  # seconds
TIMEOUT = 1.0


SEEN: dict[str, list[float]] = defaultdict(list)
SEEN_LOCK = threading.Lock()


def answer(query: str) -> float:
    """Note when each meter's query came, and answer 1200 W."""
    with SEEN_LOCK:
        SEEN[query].append(time.monotonic())
    return 1200.0


def reads(meter: str, after: float = 0.0) -> list[float]:
    with SEEN_LOCK:
        return [t for t in SEEN[meter] if t > after]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_meters_and_one_takes_over_when_the_other_dies(site, settings):
    server = PromQLPeer(answer)
    queries = [f'site_power_watts{{meter="m{i:02}"}}' for i in range(METERS)]
    for i, query in enumerate(queries):
        FacilityMeter.objects.create(
            site=site, name=f"PDU {i:02}", kind="pdu", boundary="it_load", protocol="promql", host="127.0.0.1",
            port=server.server_port, poll_interval_seconds=INTERVAL, timeout_seconds=TIMEOUT,
            settings={"queries": [{"query": query, "quantity": "power_watts"}]})
    env = dict(os.environ, DATABASE_URL=shared_database_url(), MICRODC_DATA_DIR=str(settings.DATA_DIR),
               DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="WARNING")
    workers = [subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_worker"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        assert wait_for(lambda: all(len(reads(q)) >= 3 for q in queries), timeout=60), \
            f"meters never read three times: {sum(len(reads(q)) < 3 for q in queries)} of {METERS}"
        both = {w.pid for w in workers}
        assert wait_for(lambda: both <= {int(t.holder.rsplit(":", 1)[1]) for t in JobTurn.objects.all()},
                        timeout=30), "both workers take turns at the site-wide jobs"

        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        killed = time.monotonic()
        assert wait_for(lambda: all(reads(q, after=killed) for q in queries), timeout=2 * INTERVAL), \
            f"not taken over within two intervals: {[q for q in queries if not reads(q, after=killed)]}"
        later = time.monotonic()
        # The survivor goes on alone (within three intervals: on SQLite its own rollups hold the one write lock
        # now and then).
        assert wait_for(lambda: all(reads(q, after=later) for q in queries), timeout=3 * INTERVAL), \
            "the survivor keeps polling every meter"
        # One read per meter per interval, whichever worker made it, the takeover included (a poll is stored a
        # tick after its read, and the next is due an interval after that, so two reads are never closer).
        for query in queries:
            times = reads(query)
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert min(gaps) >= INTERVAL * 0.9, f"{query} read twice within an interval: {gaps}"
        assert workers[1].poll() is None, workers[1].stderr.read() if workers[1].stderr else ""
        assert not MeterState.objects.exclude(last_error="").exists(), \
            list(MeterState.objects.exclude(last_error="").values_list("last_error", flat=True))
    finally:
        for worker in workers:
            stop_process(worker)
        server.shutdown()

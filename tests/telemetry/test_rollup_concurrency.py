"""Concurrent writers and rollup runners in real processes never lose a bucket.

Two processes push batches of one node at once (one in time order, one backfilling and re-sending the
other's batches), while two more roll up with small claims. Afterwards every minute and hour bucket must
equal a straight recomputation from the raw samples.
"""

import datetime
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from microdc.nodes.models import Accelerator, Node
from microdc.telemetry import rollups
from microdc.telemetry.models import AgentState, Rollup, Sample, Source
from microdc.telemetry.rollups import floor_time, roll_up_dirty
from tests.support import shared_database_url, stop_process
from tests.telemetry.rollup_peer import BATCHES, GPUS, SAMPLES_PER_BATCH

ROOT = Path(__file__).resolve().parents[2]


def recomputed(source: Source) -> tuple[dict, dict]:
    """Minute and hour buckets of `source` computed from all of its raw samples at once."""
    key = str(source.pk)
    rows = [(ts, values[key]) for ts, values in Sample.objects.filter(node=source.node).order_by("ts")
            .values_list("ts", "values") if key in values]
    minutes = {start: Rollup(coverage=min(b.coverage, Rollup.MINUTE), stats=b.stats)
               for start, b in rollups._minute_buckets(rows, None).items()}
    hours = defaultdict(rollups._Bucket)
    for start in sorted(minutes):
        rollups._merge_into_hour(hours[floor_time(start, Rollup.HOUR)], minutes[start])
    return ({start: (m.coverage, m.stats) for start, m in minutes.items()},
            {start: (b.coverage, b.stats) for start, b in hours.items()})


def stored(source: Source, resolution: int) -> dict:
    return {r.start: (r.coverage, r.stats) for r in Rollup.objects.filter(source=source, resolution=resolution)}


def assert_same_buckets(got: dict, want: dict, what: str) -> None:
    assert sorted(got) == sorted(want), f"{what}: buckets differ"
    for start, (coverage, stats) in want.items():
        got_coverage, got_stats = got[start]
        assert got_coverage == pytest.approx(coverage), f"{what} {start}: coverage"
        assert got_stats.keys() == stats.keys(), f"{what} {start}: metrics"
        for metric, stat in stats.items():
            assert got_stats[metric] == pytest.approx(stat, rel=1e-9), f"{what} {start} {metric}"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_and_runners_lose_no_bucket(rack, settings, tmp_path):
    node = Node.objects.create(rack=rack, hostname="gpu-race", position_u=1)
    for index, uuid_text in enumerate(GPUS):
        Accelerator.objects.create(node=node, index=index, uuid=uuid_text, kind="gpu", vendor="nvidia",
                                   model="NVIDIA H100 80GB HBM3")
    now = datetime.datetime.now(datetime.UTC)
    base = floor_time(now - datetime.timedelta(hours=2), Rollup.HOUR)
    stop_file = tmp_path / "stop"
    env = dict(os.environ, DATABASE_URL=shared_database_url(), MICRODC_DATA_DIR=str(settings.DATA_DIR),
               DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="ERROR")

    def start(*args):
        return subprocess.Popen([sys.executable, "-m", "tests.telemetry.rollup_peer", *args], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    runners = [start("roll-up", str(stop_file)) for _ in range(2)]
    writers = [start("write", writer, node.hostname, str(int(base.timestamp()))) for writer in ("live", "backfill")]
    try:
        for writer in writers:
            output, _ = writer.communicate(timeout=240)
            assert writer.returncode == 0, output
        stop_file.touch()
        for runner in runners:
            output, _ = runner.communicate(timeout=60)
            assert runner.returncode == 0, output
    finally:
        for process in (*writers, *runners):
            stop_process(process)

    # Every batch stored exactly once, re-sends acknowledged without a second copy.
    assert Sample.objects.filter(node=node).count() == 2 * BATCHES * SAMPLES_PER_BATCH
    assert AgentState.objects.get(node=node).batches_total == 2 * BATCHES
    assert Rollup.objects.filter(source__node=node).exists(), "the runners rolled up nothing while writers wrote"
    # What the runners left is still marked; rolling it up must make every bucket whole.
    while roll_up_dirty():
        pass
    sources = list(Source.objects.filter(node=node))
    assert len(sources) == 3
    last = Sample.objects.filter(node=node).order_by("-ts").first()
    for source in sources:
        minutes, hours = recomputed(source)
        assert_same_buckets(stored(source, Rollup.MINUTE), minutes, f"{source.key} minute")
        assert_same_buckets(stored(source, Rollup.HOUR), hours, f"{source.key} hour")
        assert source.last_ts == last.ts and source.last_values == last.values[str(source.pk)]
        assert source.dirty_since is None and source.rollup_claimed_since is None and source.rollup_failures == 0

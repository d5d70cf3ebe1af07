"""A real process that writes telemetry or rolls it up, for the concurrent writers and runners test.

Run from the repository root in the environment of the database under test (DATABASE_URL):
    python -m tests.telemetry.rollup_peer write live|backfill HOSTNAME BASE_EPOCH
    python -m tests.telemetry.rollup_peer roll-up STOP_FILE

`live` pushes its batches in time order; `backfill` pushes its own (the samples in between) in time order
but BACKFILL_LAG batches behind, as an agent emptying its spool does, and re-sends each of live's batches
with the same batch id at about the time live sends it, as an agent does after a timeout. Every value is a
function of its timestamp, so the test can recompute every bucket from the raw samples.
"""

import datetime
import os
import sys
import time
import uuid

BATCHES = 60
SAMPLES_PER_BATCH = 5
# Backfill runs this many batches behind live: its samples are older than live's by more than a rollup's
# reach, so a backfill mark that a concurrent live batch overwrote would leave its buckets short for good.
BACKFILL_LAG = 10
STEP_SECONDS = 20  # live at 0, 20, 40 ...; backfill at 10, 30, 50 ...
GPUS = ("GPU-5e1f0000-0000-4000-8000-000000000001", "GPU-5e1f0000-0000-4000-8000-000000000002")


def batch_payload(hostname: str, writer: str, index: int, base: datetime.datetime) -> dict:
    from tests.telemetry.factories import batch, gpu, sample

    offset = 0 if writer == "live" else STEP_SECONDS // 2
    samples = []
    for k in range(SAMPLES_PER_BATCH):
        t = (index * SAMPLES_PER_BATCH + k) * STEP_SECONDS + offset
        devices = [gpu(g, uuid_text, power_watts=200.0 + 50 * g + t % 13, energy_joules=1e6 + (250 + 50 * g) * t)
                   for g, uuid_text in enumerate(GPUS)]
        sensors = [{"source": "rapl", "chip": "intel-rapl:0", "name": "package-0",
                    "metrics": {"power_watts": 80.0 + t % 5}}]
        samples.append(sample(base + datetime.timedelta(seconds=t), devices, sensors))
    batch_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rollup-peer/{writer}/{index}"))
    return batch(hostname, samples, batch_id=batch_id)


def write(writer: str, hostname: str, base: datetime.datetime) -> None:
    from microdc.nodes.models import Node
    from microdc.telemetry.ingest import ingest_batch

    node = Node.objects.get(hostname=hostname)
    for i in range(BATCHES):
        if writer == "live":
            ingest_batch(node, batch_payload(hostname, "live", i, base))
            continue
        if i >= BACKFILL_LAG:
            ingest_batch(node, batch_payload(hostname, "backfill", i - BACKFILL_LAG, base))
        ingest_batch(node, batch_payload(hostname, "live", i, base))  # the re-send
    if writer == "backfill":
        for i in range(BATCHES - BACKFILL_LAG, BATCHES):
            ingest_batch(node, batch_payload(hostname, "backfill", i, base))


def roll_up(stop_file: str) -> None:
    from microdc.telemetry.rollups import roll_up_dirty

    while not os.path.exists(stop_file):
        # A small limit: runs claim part of a node's sources, and the runners take turns.
        roll_up_dirty(limit=2)
        time.sleep(0.01)


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microdc.settings")
    import django

    django.setup()
    if argv[0] == "write":
        write(argv[1], argv[2], datetime.datetime.fromtimestamp(int(argv[3]), datetime.UTC))
    else:
        roll_up(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])

"""Benchmark: the energy ledger's 30-second update for a site of 100 deployments, on SQLite and PostgreSQL.

25 simulated nodes of 4 GPUs (PSU input measured), 100 deployments holding one GPU each, each with a model
server's counters. One hour of history goes in through the real ingest and rollups and the ledger computes
it; then, five times, 30 s more telemetry arrives and is rolled up, and ledger.update() is timed: it must
recompute only the minutes the new samples touched (plus their hour rows), not the history.

Rerun:  .venv/bin/python benchmarks/energy_ledger.py [--backend sqlite|postgresql|both]
"""

import datetime
import json
import statistics
import time

from harness import backend_command, print_rerun, run_inner, setup_django

PG_DB = "microdc_bench_ledger"
NODES, GPUS = 25, 4


def inner() -> None:
    setup_django()
    from microdc.energy import ledger
    from microdc.telemetry.rollups import roll_up_dirty
    from tests.energy.rig import HOUR, T0, Rig, constant

    rig = Rig("bench")
    nodes = [rig.node(f"gpu-{n:02d}", gpus=GPUS) for n in range(NODES)]
    deployments = [(rig.deployment(f"model-{n:02d}-{i}", [node], [i]), node)
                   for n, node in enumerate(nodes) for i in range(GPUS)]
    gpus = {i: constant(200.0 + 50 * i) for i in range(GPUS)}

    def feed(start, end):
        for node in nodes:
            rig.push_node(node, start, end, gpus=gpus, psu=constant(1500.0))
        for deployment, node in deployments:
            rig.serve(deployment, node, start, end)
        while roll_up_dirty(now=end):
            pass

    began = time.perf_counter()
    feed(T0, T0 + HOUR)
    fed = time.perf_counter() - began
    began = time.perf_counter()
    history_rows = ledger.update(now=T0 + HOUR)
    history = time.perf_counter() - began
    runs, written = [], []
    cursor = T0 + HOUR
    for _ in range(5):
        step = cursor + datetime.timedelta(seconds=30)
        feed(cursor + datetime.timedelta(seconds=10), step)
        began = time.perf_counter()
        written.append(ledger.update(now=step + datetime.timedelta(seconds=5)))
        runs.append(time.perf_counter() - began)
        cursor = step
    print(json.dumps({"feed_s": fed, "history_s": history, "history_rows": history_rows,
                      "update_ms": statistics.median(runs) * 1e3, "update_rows": statistics.median(written)}))


def main() -> None:
    chosen = backend_command(__doc__, inner)
    if chosen is None:
        return
    for backend in chosen:
        r = run_inner(__file__, backend, PG_DB)
        print(f"[{backend}] {NODES} nodes x {GPUS} GPUs, {NODES * GPUS} deployments: first hour "
              f"{r['history_rows']:,} minute rows in {r['history_s']:.2f} s; 30-second update "
              f"{r['update_ms']:.0f} ms median, {r['update_rows']:.0f} minute rows rewritten")
    print_rerun(__file__)


if __name__ == "__main__":
    main()

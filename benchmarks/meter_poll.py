"""Meter poll throughput: how many meters per second the sources read through a thread pool, as the
worker's poller would, against simulated meters behind the real protocols on loopback.

The simulated facility runs in its own process (``python -m microdc.simulator.facility --replicas N``)
so its servers do not share the poller's interpreter lock; it serves Modbus TCP SunSpec meters (one
per unit id), SNMP UPS-MIB agents (one community/context each, plus one v3 authPriv) and Redfish rack
PDUs and a CDU (one resource each). Both sides share this machine's cores, so the figure is a floor.

    .venv/bin/python benchmarks/meter_poll.py [--meters 200] [--workers 32] [--rounds 5] [--timeout 5]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from microdc.facility.sources import MeterError, get_source  # noqa: E402

BASE_METERS = 6  # the demo's five meters and the Modbus cooling feed
METERS_PER_REPLICA = 4  # a utility meter (Modbus), a UPS (SNMP), two rack PDUs (Redfish)


def start_simulator(replicas: int) -> tuple[subprocess.Popen, list[dict]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "microdc.simulator.facility", "--replicas", str(replicas), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.rstrip() == "]":
            return process, json.loads("".join(lines))
    raise RuntimeError(f"simulator exited ({process.wait()}) before printing its endpoints")


def poll(endpoint: dict, timeout: float) -> tuple[str, float, str | None]:
    started = time.perf_counter()
    try:
        readings = get_source(endpoint["protocol"]).read(
            endpoint["host"], endpoint["port"], endpoint["settings"], endpoint["secret"], timeout
        )
        error = None if readings else "no readings"
    except MeterError as failure:
        error = str(failure)
    return endpoint["protocol"], time.perf_counter() - started, error


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=200)
    parser.add_argument("--workers", type=int, default=32, help="poller threads")
    parser.add_argument("--rounds", type=int, default=5, help="full polls of every meter (the first warms up)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-meter read timeout, seconds")
    args = parser.parse_args()

    replicas = max(0, math.ceil((args.meters - BASE_METERS) / METERS_PER_REPLICA))
    process, endpoints = start_simulator(replicas)
    try:
        meters = endpoints[: args.meters]
        mix = defaultdict(int)
        for endpoint in meters:
            mix[endpoint["protocol"]] += 1
        print(f"{len(meters)} simulated meters: " + ", ".join(f"{n} {p}" for p, n in sorted(mix.items())))
        print(f"{args.workers} poller threads, timeout {args.timeout:g} s, {args.rounds} rounds (round 1 warms up)")
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        rates = []
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            for round_number in range(1, args.rounds + 1):
                started = time.perf_counter()
                results = list(pool.map(lambda endpoint: poll(endpoint, args.timeout), meters))
                elapsed = time.perf_counter() - started
                rate = len(meters) / elapsed
                failed = [error for _, _, error in results if error]
                print(f"  round {round_number}: {elapsed:6.2f} s  {rate:7.1f} meters/s  {len(failed)} failed"
                      + (f" (e.g. {failed[0]})" if failed else ""))
                if round_number > 1 or args.rounds == 1:
                    rates.append(rate)
                    for protocol, seconds, _error in results:
                        latencies[protocol].append(seconds)
                    errors += failed
        print(f"throughput: {statistics.median(rates):.1f} meters/s (median of measured rounds; "
              f"best {max(rates):.1f})")
        for protocol, values in sorted(latencies.items()):
            print(f"  {protocol:<8} read latency p50 {statistics.median(values) * 1000:7.1f} ms  "
                  f"p95 {percentile(values, 0.95) * 1000:7.1f} ms  ({len(values)} reads)")
        if errors:
            print(f"{len(errors)} failed reads, e.g.: {errors[0]}")
        print(f"rerun: .venv/bin/python benchmarks/meter_poll.py --meters {args.meters} --workers {args.workers} "
              f"--rounds {args.rounds} --timeout {args.timeout:g}")
        return 1 if errors else 0
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())

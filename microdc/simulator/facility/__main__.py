"""Start the simulated facility from a shell and print how to reach each meter.

    python -m microdc.simulator.facility [--it-watts 12000] [--racks A01,A02] [--json]

Runs until interrupted (Ctrl-C). Every peer listens on loopback only and says it is simulated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from dataclasses import asdict

from . import default_it_power, start_simulated_facility


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microdc.simulator.facility", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--it-watts", type=float, help="constant IT load in watts (default: a daily profile)")
    parser.add_argument("--racks", default="A01,A02", help="comma-separated rack names, one PDU each")
    parser.add_argument("--replicas", type=int, default=0, help="extra copies of each meter, for load tests")
    parser.add_argument("--json", action="store_true", help="print the endpoints as JSON (includes secrets)")
    args = parser.parse_args(argv)

    constant = args.it_watts
    it_power = (lambda _now: constant) if constant is not None else default_it_power
    facility = start_simulated_facility(
        it_power, racks=[r for r in args.racks.split(",") if r], host=args.host, replicas=args.replicas
    )
    endpoints = facility.endpoints + facility.extra_endpoints
    if args.json:
        print(json.dumps([asdict(endpoint) for endpoint in endpoints], indent=2), flush=True)
    else:
        print("Simulated facility (not real hardware) is running:")
        for endpoint in endpoints:
            print(f"  {endpoint.name:<24} {endpoint.protocol:<8} {endpoint.host}:{endpoint.port}  {endpoint.settings}")
        print("Secrets: run with --json. Stop with Ctrl-C.", flush=True)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        facility.stop()
    with contextlib.suppress(BrokenPipeError):  # whoever read our endpoints may be gone already
        print("Simulated facility stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

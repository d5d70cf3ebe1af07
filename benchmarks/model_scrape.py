"""Model-server scraping: the worker's real scrape round (energy.scrape.Scraper, ticked by the periodic loop)
against N vLLM-shaped metrics endpoints on loopback, at the scrape interval, with the database on SQLite.
Prints the scraper's CPU seconds per interval as a share of one core (target below 10% for 200 endpoints at
10 s).

The endpoints run in their own process (``--serve``), each on its own port, each page the families, labels and
buckets of vLLM's loggers.py (tests/energy/vllm_metrics.py) with its counters moving, no `_created` series
(vLLM's multiprocess mode), about 34 KB. Both sides share this machine's cores, so the figure is a ceiling.

    .venv/bin/python benchmarks/model_scrape.py [--endpoints 200] [--interval 10] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.harness import run_inner  # noqa: E402


def serve(count: int) -> None:
    """The endpoints' process: print the ports as one JSON line, then serve until stdin closes."""
    os.environ["PROMETHEUS_DISABLE_CREATED_SERIES"] = "True"
    from tests.energy.vllm_metrics import VllmMetrics

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            metrics = self.server.metrics
            with self.server.lock:
                for i in range(3):  # a little traffic between scrapes
                    metrics.request(120 + i, 40 + i, 0.4 + i * 0.3, 0.02 + i * 0.01)
                body = metrics.page().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = []
    for index in range(count):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.metrics, httpd.lock = VllmMetrics(model=f"model-{index}"), threading.Lock()
        for _ in range(50):
            httpd.metrics.request(100, 20, 0.5, 0.03)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
    print(json.dumps([s.server_address[1] for s in servers]), flush=True)
    sys.stdin.read()


def inner() -> None:
    from benchmarks.harness import setup_django

    setup_django()
    from django.conf import settings

    from microdc.energy.models import ModelServer
    from microdc.energy.scrape import Scraper
    from microdc.nodes.models import Node, Rack, Site
    from microdc.provisioning.models import Deployment
    from microdc.worker.periodic import Job, run_forever

    ports = json.loads(os.environ["MODEL_SCRAPE_PORTS"])
    seconds, interval = float(os.environ["MODEL_SCRAPE_RUN_SECONDS"]), float(os.environ["MICRODC_MODEL_SCRAPE_SECONDS"])
    rack = Rack.objects.create(site=Site.objects.create(name="Bench", slug="bench"), name="R1", height_u=42)
    per_node = 8
    nodes = [Node.objects.create(hostname=f"gpu-{i:03d}", management_address=f"10.0.{i // 250}.{i % 250 + 1}",
                                 rack=rack, position_u=1 + (i % 20) * 2, height_u=2, simulated=True)
             for i in range((len(ports) + per_node - 1) // per_node)]
    for i, port in enumerate(ports):
        Deployment.objects.create(name=f"model-{i}", runtime="vllm", status=Deployment.Status.HEALTHY, endpoints=[
            {"node": nodes[i // per_node].hostname, "state": "healthy", "url": "",
             "metrics_url": f"http://127.0.0.1:{port}/metrics"}])

    scraper = Scraper()
    stop = threading.Event()
    loop = threading.Thread(target=run_forever, args=([Job("model-server scrapes", 1, scraper.tick)], stop))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    loop.start()
    time.sleep(seconds)
    stop.set()
    loop.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    scraper.shutdown()
    servers = list(ModelServer.objects.select_related("source"))
    rounds = wall / interval
    print(json.dumps({
        "endpoints": len(ports), "seconds": wall, "interval": interval,
        "workers": settings.MICRODC_MODEL_SCRAPE_WORKERS,
        "cpu_seconds": cpu, "cpu_per_interval": cpu / rounds, "core_share": cpu / wall,
        "fresh": sum(1 for s in servers if s.last_success and not s.stale_reason),
        "stale": sorted({s.stale_reason for s in servers if s.stale_reason})[:5]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.inner:
        inner()
        return
    peer = subprocess.Popen([sys.executable, __file__, "--serve", str(args.endpoints)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ports = peer.stdout.readline().strip()
        os.environ.update(MODEL_SCRAPE_PORTS=ports, MODEL_SCRAPE_RUN_SECONDS=str(args.seconds),
                          MICRODC_MODEL_SCRAPE_SECONDS=str(args.interval))
        result = run_inner(__file__, "sqlite", "")
    finally:
        peer.stdin.close()
        peer.wait(timeout=10)
    print(f"[sqlite] {result['endpoints']} vLLM-shaped endpoints every {result['interval']:g} s for "
          f"{result['seconds']:.0f} s ({result['workers']} fetch threads): scraper CPU {result['cpu_seconds']:.2f} s, "
          f"{result['cpu_per_interval']:.3f} s per interval = {result['core_share'] * 100:.1f}% of one core "
          f"(target < 10%); {result['fresh']}/{result['endpoints']} fresh at the end"
          + (f"; stale: {result['stale']}" if result["stale"] else ""))
    print(f"rerun: .venv/bin/python benchmarks/{Path(__file__).name} [--endpoints 200] [--interval 10] [--seconds 60]")


if __name__ == "__main__":
    main()

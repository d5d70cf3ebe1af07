"""Benchmark: how many GPUs one appliance sustains, running the real processes of `make run` on PostgreSQL + Redis.

For each step (a number of GPUs, 8 to a node), for its share of --duration:
  - one simulated agent per node samples its 8 GPUs every second and pushes (the wire format of microdc.agent;
    every device marked simulated) every second, or every --batch-samples seconds with that many samples as
    the agent's --interval 1 --batch-samples N does; each push is timed;
  - 10 facility meters (a Prometheus query API on loopback) are polled by the worker every 5 s;
  - the worker rolls up, evaluates alerts and runs the ledger as it does in production;
  - Debian's Prometheus scrapes /metrics every 15 s (its scrape_duration_seconds is the /metrics time);
  - 20 dashboard websocket clients, logged in as a viewer, watch the site; one probe node's pushes carry a
    value that names their send time, so each frame's delay from push to screen is known.
It reports per step: push latency p50/p95, rollup lag (the oldest sample not yet rolled up), /metrics time,
websocket delay p50/p95, errors (non-202 answers, failed requests), late pushes (slower than the agent pushes,
so it would fall behind), the CPU each process used, and every process's resident memory at the step's start
and end. A step is sustained when the rollup lag stays under one minute, nothing failed or was late, and the
push p95 is under 1 s;
the largest sustained step is the figure; at the first step that is not, it names what gave and the process that
carries it (the worker for rollup lag, the web process for pushes).

Rerun:  .venv/bin/python benchmarks/site_load.py                       (10 minutes: 250, 500, 1000, 2000 GPUs)
        .venv/bin/python benchmarks/site_load.py --duration 300 --steps 1000,2000,3000 --batch-samples 10
        .venv/bin/python benchmarks/site_load.py --short                 (what `make bench` runs: 2 x 45 s)
Needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379, and Debian's prometheus.
"""

import argparse
import asyncio
import datetime
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from harness import PG_ADMIN, postgres_reachable  # noqa: E402

DATABASE = "microdc_bench_load"
GPUS_PER_NODE = 8
WEBSOCKET_CLIENTS = 20
METERS = 10
LAG_LIMIT_S = 60.0
PUSH_P95_LIMIT_S = 1.0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


# --- processes and their resources -----------------------------------------------------------------------------

def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds used, resident MB) of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def appliance_processes(launcher: int) -> dict[str, int]:
    """The launcher's processes by name (uvicorn's own workers, when it runs several, under it)."""
    found = {}

    def children(pid: int) -> list[int]:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]

    for child in children(launcher):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "uvicorn" in cmdline:
            workers = children(child)
            found["web"] = child
            found |= {f"web {n + 1}": pid for n, pid in enumerate(workers)}
        else:
            found["worker" if "run_worker" in cmdline else cmdline[:30]] = child
    return found


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process (the server and its backends) so far."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postgresql"}:
                    total += proc_stat(int(entry.name))[0]
            except OSError:
                pass
    return total


# --- the site ---------------------------------------------------------------------------------------------------

def prepare_database() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    return f"postgres://postgres@127.0.0.1:5432/{DATABASE}"


def seed(nodes: int, meter_port: int) -> dict:
    """Nodes (with agent tokens), a viewer, and the polled meters; in this process's Django."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from microdc.core.roles import Role
    from microdc.nodes.agent_tokens import issue_agent_token
    from microdc.nodes.models import FacilityMeter, Node, Rack, Site

    call_command("migrate", verbosity=0)
    site = Site.objects.create(slug="load", name="Load test site")
    tokens = {}
    for n in range(nodes):
        rack, _ = Rack.objects.get_or_create(site=site, name=f"R{n // 10:02}", defaults={"height_u": 42})
        node = Node.objects.create(hostname=f"load-{n:04}", rack=rack, position_u=1 + (n % 10) * 4, height_u=4,
                                   management_address="127.0.0.1")
        tokens[node.hostname] = issue_agent_token(node)
    for i in range(METERS):  # the utility feed and nine PDUs, so that PUE is computed as on a real site
        utility = i == 0
        FacilityMeter.objects.create(
            site=site, name="Utility feed" if utility else f"PDU {i}", kind="utility_feed" if utility else "pdu",
            boundary="facility_input" if utility else "it_load", protocol="promql", host="127.0.0.1",
            port=meter_port, poll_interval_seconds=5, timeout_seconds=2.0, simulated=True,
            settings={"queries": [{"query": f'pdu_power_watts{{pdu="{i}"}}', "quantity": "power_watts"}]})
    password = secrets.token_urlsafe(12)
    get_user_model().objects.create_user("viewer", password=password, role=Role.VIEWER)
    return {"site": site.pk, "tokens": tokens, "password": password,
            "probe": Node.objects.get(hostname="load-0000").pk}


def rollup_lag() -> float:
    """Seconds since the oldest sample not rolled up yet (0 when everything is)."""
    from django.db.models import Min
    from django.utils import timezone

    from microdc.telemetry.models import Source
    from microdc.telemetry.rollup_claims import pending_since

    oldest = Source.objects.aggregate(oldest=Min(pending_since()))["oldest"]
    return 0.0 if oldest is None else (timezone.now() - oldest).total_seconds()


# --- the load ---------------------------------------------------------------------------------------------------

def gpu_values(i: int, t: float) -> dict:
    phase = (int(t) + i * 3) % 60
    power = 280.0 + 8 * phase
    return {"power_watts": power, "energy_joules": 1.0e6 + t * power, "power_limit_watts": 700.0,
            "temperature_celsius": 45.0 + phase / 3, "memory_temperature_celsius": 52.0,
            "utilization_ratio": phase / 60, "memory_utilization_ratio": 0.4, "memory_used_bytes": 4.0e10,
            "memory_total_bytes": 8.5e10, "sm_clock_hertz": 1.98e9, "memory_clock_hertz": 2.6e9,
            "ecc_corrected_errors_total": 0, "ecc_uncorrected_errors_total": 0}


class Step:
    def __init__(self):
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.late = 0
        self.ws_delays: list[float] = []
        self.lags: list[float] = []

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def agent(http, url: str, hostname: str, token: str, step: Step, stop: float, offset: float,
                probe_sent: dict | None, batch_samples: int) -> None:
    """One node's agent: a sample a second, pushed every `batch_samples`, at its own offset, so that the nodes'
    pushes spread evenly over the push interval as independent agents' do."""
    import msgspec

    encode = msgspec.json.encode
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    uuids = [f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{hostname}-{i}')}" for i in range(GPUS_PER_NODE)]
    tick = time.time() // 1 + 1 + offset % 1
    sequence = 0
    samples = [None] * int(offset)  # the first push comes after `offset` seconds (placeholders, dropped below)
    while tick < stop:
        await asyncio.sleep(max(0.0, tick - time.time()))
        now = time.time()
        ts = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat()
        devices = [{"kind": "gpu", "index": i, "uuid": uuids[i], "name": "Simulated H100", "vendor": "nvidia",
                    "simulated": True, "metrics": gpu_values(i, now)} for i in range(GPUS_PER_NODE)]
        samples.append({"ts": ts, "devices": devices, "sensors": []})
        tick += 1
        if len(samples) < batch_samples:
            continue
        if probe_sent is not None:  # the probe's power names its push: 8 GPUs x (200 + sequence / 1000) W
            sequence += 1
            for device in devices:
                device["metrics"]["power_watts"] = 200.0 + sequence / 1000
            probe_sent[round(GPUS_PER_NODE * (200.0 + sequence / 1000), 3)] = time.perf_counter()
        body = encode({"batch_id": str(uuid.uuid4()), "node": hostname, "agent_version": "site_load",
                       "samples": [sample for sample in samples if sample is not None]})
        samples = []
        began = time.perf_counter()
        try:
            response = await http.post(f"{url}/api/v1/telemetry/", content=body, headers=headers)
            if response.status_code != 202:
                step.error(f"HTTP {response.status_code}")
        except Exception as exc:
            step.error(type(exc).__name__)
        else:
            step.latencies.append(time.perf_counter() - began)
        if time.perf_counter() - began > batch_samples:  # slower than the agent pushes: it would fall behind
            step.late += 1
        if time.time() > tick:  # the next sample's second has passed: take it now
            tick = time.time() // 1 + 1 + offset % 1


async def screen(url: str, cookie: str, site: int, probe: int, probe_sent: dict, steps: list, stop_event) -> None:
    from websockets.asyncio.client import connect

    async with connect(url.replace("http://", "ws://") + "/ws/live/", origin=url, max_queue=None,
                       additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        await ws.send(json.dumps({"subscribe": [f"site.{site}"]}))
        while not stop_event.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                continue
            arrived = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") != "update":
                continue
            view = message["data"].get("nodes", {}).get(str(probe))
            if view and view.get("power_watts") is not None:
                sent = probe_sent.pop(round(view["power_watts"], 3), None)
                if sent is not None and steps:
                    steps[-1].ws_delays.append(arrived - sent)


def login_cookie(url: str, password: str) -> str:
    import httpx

    with httpx.Client(base_url=url, timeout=10) as client:
        client.get("/login/")
        response = client.post("/login/", data={"username": "viewer", "password": password,
                                                "csrfmiddlewaretoken": client.cookies["csrftoken"], "next": "/"},
                               headers={"Referer": f"{url}/login/"})
        if response.status_code != 302:
            raise SystemExit(f"login as viewer failed: HTTP {response.status_code}")
        return client.cookies["sessionid"]


def prometheus_scrape_seconds(prometheus_url: str, window: int) -> tuple[float, float]:
    """(median, longest) /metrics scrape over the last `window` seconds, as Prometheus timed them."""
    import httpx

    figures = []
    for function in ("quantile_over_time(0.5, ", "max_over_time("):
        answer = httpx.get(f"{prometheus_url}/api/v1/query", timeout=10, params={
            "query": f'{function}scrape_duration_seconds{{job="microdc"}}[{window}s])'}).json()
        result = answer.get("data", {}).get("result", [])
        figures.append(float(result[0]["value"][1]) if result else float("nan"))
    return figures[0], figures[1]


def prometheus_up(prometheus_url: str) -> float:
    import httpx

    answer = httpx.get(f"{prometheus_url}/api/v1/query", timeout=10, params={"query": 'up{job="microdc"}'}).json()
    result = answer.get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else float("nan")


async def run_step(gpus: int, seconds: float, url: str, site: dict, steps: list, prometheus_url: str,
                   processes: dict[str, int], batch_samples: int) -> dict:
    import httpx
    from django.db import close_old_connections

    step = Step()
    steps.append(step)
    nodes = gpus // GPUS_PER_NODE
    hostnames = sorted(site["tokens"])[:nodes]
    before = {name: proc_stat(pid) for name, pid in processes.items()}
    pg_before, me_before = postgres_cpu(), time.process_time()
    started = time.monotonic()
    stop = time.time() + seconds
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        agents = [asyncio.create_task(agent(http, url, host, site["tokens"][host], step, stop,
                                            n / nodes * batch_samples, site["probe_sent"] if n == 0 else None,
                                            batch_samples))
                  for n, host in enumerate(hostnames)]

        async def watch_lag():
            while time.time() < stop:
                await asyncio.sleep(10)
                close_old_connections()
                step.lags.append(await asyncio.to_thread(rollup_lag))

        watcher = asyncio.create_task(watch_lag())
        await asyncio.gather(*agents)
        watcher.cancel()
    elapsed = time.monotonic() - started
    after = {name: proc_stat(pid) for name, pid in processes.items()}
    cpu = {name: (after[name][0] - before[name][0]) / elapsed for name in processes}
    cpu["postgresql"] = (postgres_cpu() - pg_before) / elapsed
    cpu["load generator"] = (time.process_time() - me_before) / elapsed
    pushes = len(step.latencies)
    errors = sum(step.errors.values())
    lag = max(step.lags) if step.lags else float("nan")
    p95 = percentile(step.latencies, 0.95)
    gave = [what for what, bad in ((f"{errors} errors", errors), (f"{step.late} late pushes", step.late),
                                   (f"rollup lag {lag:.0f} s", not lag < LAG_LIMIT_S),
                                   (f"push p95 {p95 * 1e3:.0f} ms", not p95 < PUSH_P95_LIMIT_S)) if bad]
    return {"gpus": gpus, "nodes": nodes, "seconds": round(elapsed), "pushes": pushes,
            "push_p50_ms": percentile(step.latencies, 0.5) * 1e3, "push_p95_ms": p95 * 1e3,
            "errors": errors, "error_kinds": step.errors, "late": step.late,
            "rollup_lag_s": lag, "metrics_s": prometheus_scrape_seconds(prometheus_url, int(elapsed)),
            "metrics_up": prometheus_up(prometheus_url),
            "ws_p50_ms": percentile(step.ws_delays, 0.5) * 1e3, "ws_p95_ms": percentile(step.ws_delays, 0.95) * 1e3,
            "ws_frames": len(step.ws_delays), "cpu": cpu,
            "rss_start": {name: before[name][1] for name in processes},
            "rss_end": {name: after[name][1] for name in processes},
            "gave": gave, "sustained": not gave}


def report(result: dict) -> None:
    rss = ", ".join(f"{name} {result['rss_start'][name]:.0f}->{result['rss_end'][name]:.0f} MB"
                    for name in result["rss_start"])
    cpu = ", ".join(f"{name} {share:.0%}" for name, share in sorted(result["cpu"].items(), key=lambda kv: -kv[1]))
    errors = f"{result['errors']} errors {result['error_kinds']}" if result["errors"] else "0 errors"
    print(f"{result['gpus']:>5} GPUs ({result['nodes']} nodes, {result['seconds']} s): push p50 "
          f"{result['push_p50_ms']:.0f} ms p95 {result['push_p95_ms']:.0f} ms ({result['pushes']} pushes, "
          f"{result['late']} late), {errors}; rollup lag max {result['rollup_lag_s']:.0f} s; /metrics median "
          f"{result['metrics_s'][0] * 1e3:.0f} ms, longest {result['metrics_s'][1] * 1e3:.0f} ms "
          f"(up={result['metrics_up']:.0f}); websocket delay p50 "
          f"{result['ws_p50_ms']:.0f} ms p95 {result['ws_p95_ms']:.0f} ms ({result['ws_frames']} frames); "
          f"CPU (share of one core): {cpu}; memory {rss} -> {'SUSTAINED' if result['sustained'] else 'NOT sustained'}",
          flush=True)


async def load(args, url: str, site: dict, prometheus_url: str, processes: dict[str, int]) -> list[dict]:
    cookie = login_cookie(url, site["password"])
    site["probe_sent"] = {}
    steps: list[Step] = []
    stop_screens = asyncio.Event()
    screens = [asyncio.create_task(screen(url, cookie, site["site"], site["probe"], site["probe_sent"], steps,
                                          stop_screens)) for _ in range(WEBSOCKET_CLIENTS)]
    results = []
    seconds = args.duration / len(args.steps)
    for gpus in args.steps:
        result = await run_step(gpus, seconds, url, site, steps, prometheus_url, processes, args.batch_samples)
        report(result)
        results.append(result)
        site["probe_sent"].clear()
    stop_screens.set()
    await asyncio.gather(*screens, return_exceptions=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds in all, shared by the steps")
    parser.add_argument("--steps", type=lambda text: [int(v) for v in text.split(",")],
                        default=[250, 500, 1000, 2000], help="GPUs at each step, comma-separated")
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn worker processes (MICRODC_WEB_WORKERS)")
    parser.add_argument("--batch-samples", type=int, default=1,
                        help="1 Hz samples per push: 1 pushes every second; 10 is the agent's --interval 1 "
                             "--batch-samples 10, a push every 10 s")
    parser.add_argument("--short", action="store_true", help="two 45 s steps (250 and 1000 GPUs)")
    args = parser.parse_args()
    if args.short:
        args.duration, args.steps = 90.0, [250, 1000]
    if not postgres_reachable():
        print("site_load: PostgreSQL at 127.0.0.1:5432 is not reachable; skipped.")
        return 0
    from tests.support import PrometheusServer, PromQLPeer, free_port

    database_url = prepare_database()
    port = free_port()
    # Every meter's query answered with a plausible PDU power.
    meters = PromQLPeer(lambda query: round(4000 + 500 * (time.time() % 7), 1))
    with tempfile.TemporaryDirectory(prefix="microdc-load-") as data_dir:
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL="redis://127.0.0.1:6379/13",
                   MICRODC_REDIS_PREFIX=f"microdc-load-{secrets.token_hex(4)}", MICRODC_DATA_DIR=data_dir,
                   MICRODC_PORT=str(port), DJANGO_SETTINGS_MODULE="microdc.settings", MICRODC_LOG_LEVEL="ERROR",
                   MICRODC_METRICS_TOKEN="", MICRODC_WEB_WORKERS=str(args.web_workers))
        os.environ.update({key: env[key] for key in ("DATABASE_URL", "REDIS_URL", "MICRODC_REDIS_PREFIX",
                                                     "MICRODC_DATA_DIR", "DJANGO_SETTINGS_MODULE")})
        import django

        django.setup()
        site = seed(max(args.steps) // GPUS_PER_NODE, meters.server_port)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], env=env, cwd=ROOT,
                       check=True)
        launcher = subprocess.Popen([sys.executable, "-m", "microdc.launcher"], env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or launcher.poll() is not None:
                        raise SystemExit("the appliance did not start") from None
                    time.sleep(0.5)
            time.sleep(3)  # the worker's first cycle
            processes = appliance_processes(launcher.pid)
            config = ("global: {scrape_interval: 15s, scrape_timeout: 10s}\nscrape_configs:\n"
                      f"  - job_name: microdc\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
            with PrometheusServer(Path(data_dir), config=config) as prometheus:
                print(f"site_load: the real appliance ({args.web_workers} web process(es) + worker) on PostgreSQL + "
                      f"Redis, {args.duration:.0f} s over steps {args.steps} GPUs sampled at 1 Hz, pushed every "
                      f"{args.batch_samples} s; {METERS} meters polled every 5 s, Prometheus scraping every 15 s, "
                      f"{WEBSOCKET_CLIENTS} websocket screens", flush=True)
                results = asyncio.run(load(args, url, site, prometheus.url, processes))
        finally:
            launcher.terminate()
            launcher.wait(timeout=30)
            meters.shutdown()
    sustained = [r for r in results if r["sustained"]]
    best = max((r["gpus"] for r in sustained), default=0)
    print(f"largest sustained: {best} GPUs at 1 Hz (rollup lag < {LAG_LIMIT_S:.0f} s, no errors, pushes on pace)")
    failed = next((r for r in results if not r["sustained"]), None)
    if failed is not None:
        # Rollups run in the worker; pushes, /metrics and the screens in the web process(es).
        where = "worker" if all(g.startswith("rollup") for g in failed["gave"]) else "web"
        share = sum(v for k, v in failed["cpu"].items() if k.split()[0] == where)
        print(f"what gave at {failed['gpus']} GPUs: {', '.join(failed['gave'])}; {where} at {share:.0%} of a core, "
              f"all processes {sum(failed['cpu'].values()):.0%} "
              f"(the machine has {os.cpu_count()} cores)")
    print("rerun: .venv/bin/python benchmarks/site_load.py [--duration S] [--steps 250,500,1000,2000] "
          "[--batch-samples 10] [--web-workers 2] [--short]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

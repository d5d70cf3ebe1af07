#!/usr/bin/env python3
"""Agent CPU cost: CPU seconds (user + system, this process) per 1,000 collections.

Measures each collector alone (simulated GPUs; sysfs against a fake hwmon/RAPL tree of a two-socket server;
the NVML code path with pynvml's functions replaced by a replay of tests/agent/fixtures/nvml_h100.json,
scaled to 8 GPUs), the whole per-collection pipeline (collect + batch + spool insert + spool delete), and
the HTTP push of one batch to a loopback server running in another process.

On a real GPU node the NVML figure differs: each call goes through ctypes into the driver instead of the
replay's Python lookups, and nvmlDeviceGetPcieThroughput waits 20 ms per call inside the driver (wall time,
not CPU).

Rerun: .venv/bin/python benchmarks/agent_cpu.py [--n 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from microdc.agent.collectors.nvml import NvmlCollector  # noqa: E402
from microdc.agent.collectors.simulated import SimulatedCollector  # noqa: E402
from microdc.agent.collectors.sysfs import SysfsCollector  # noqa: E402
from microdc.agent.config import AgentConfig  # noqa: E402
from microdc.agent.nvml_replay import replaying  # noqa: E402
from microdc.agent.sample import collect_sample, new_batch  # noqa: E402
from microdc.agent.spool import Spool  # noqa: E402

FIXTURE = ROOT / "tests" / "agent" / "fixtures" / "nvml_h100.json"
T0 = 1_800_000_000.0
INTERVAL = 10.0

_SERVER = """
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK stall
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"accepted": 1, "duplicate": false}'
        self.send_response(202); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def fake_sysfs(root: Path) -> None:
    """Two sockets of coretemp (package + 32 cores each), two NVMe drives, RAPL package + dram per socket."""
    for n, (name, channels) in enumerate([("coretemp", 33), ("coretemp", 33), ("nvme", 3), ("nvme", 3)]):
        d = root / "class" / "hwmon" / f"hwmon{n}"
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        dev = root / "devices" / f"{name}.{n}"
        dev.mkdir(parents=True)
        (d / "device").symlink_to(dev)
        for c in range(1, channels + 1):
            (d / f"temp{c}_input").write_text(f"{40000 + 250 * c}\n")
            (d / f"temp{c}_label").write_text(("Package id 0" if c == 1 else f"Core {c - 2}") + "\n")
    for zone, name in [("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "dram"),
                       ("intel-rapl:1", "package-1"), ("intel-rapl:1:0", "dram")]:
        d = root / "class" / "powercap" / zone
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text("123456789012\n")
        (d / "max_energy_range_uj").write_text("262143328850\n")


def nvml_raw(gpus: int) -> dict:
    raw = json.loads(FIXTURE.read_text())["nvml_raw"]
    devices = []
    for i in range(gpus):
        dev = copy.deepcopy(raw["devices"][i % len(raw["devices"])])
        dev["index"] = i
        dev["calls"]["nvmlDeviceGetUUID()"] = f"GPU-00000000-0000-0000-0000-{i:012d}"
        devices.append(dev)
    return {**raw, "devices": devices}


def cpu_per_1000(n: int, step: Callable[[int], object]) -> tuple[float, float]:
    """(CPU seconds per 1,000 calls, wall seconds per 1,000 calls)."""
    step(-1)  # warm-up: first discovery / init
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        step(i)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu * 1000 / n, wall * 1000 / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="collections per measurement (default 1000)")
    args = parser.parse_args()
    n = args.n
    rows: list[tuple[str, float, float]] = []

    for gpus in (4, 8):
        sim = SimulatedCollector(gpus=gpus, seed=1, node="bench")
        rows.append((f"simulated collector, {gpus} GPUs",
                     *cpu_per_1000(n, lambda i, sim=sim: sim.collect(T0 + (i + 1) * INTERVAL))))

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        fake_sysfs(tmp_path / "sys")
        sysfs = SysfsCollector(tmp_path / "sys")
        channels = len(sysfs.collect(T0).sensors)
        rows.append((f"sysfs collector, {channels} hwmon channels + RAPL zones (fake tree)",
                     *cpu_per_1000(n, lambda i: sysfs.collect(T0 + (i + 1) * INTERVAL))))

        with replaying(nvml_raw(8)):
            nvml = NvmlCollector()
            rows.append(("NVML collector, 8 GPUs (pynvml replayed)",
                         *cpu_per_1000(n, lambda i: nvml.collect(T0 + (i + 1) * INTERVAL))))

            spool = Spool(tmp_path / "spool.sqlite3")
            collectors = [nvml, sysfs]

            def pipeline(i: int) -> None:
                sample, _ = collect_sample(collectors, T0 + (i + 1) * INTERVAL)
                spool.put(new_batch("bench", [sample]))
                item = spool.peek()
                spool.delete(item.seq)

            rows.append(("full collection: NVML 8 GPUs + sysfs, batch, spool insert + delete",
                         *cpu_per_1000(n, pipeline)))
            sample, _ = collect_sample(collectors, T0)
            payload = json.dumps(new_batch("bench", [sample]))
            spool.close()
            nvml.close()

    from microdc.agent.sender import Uploader

    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        uploader = Uploader(AgentConfig(url=f"http://127.0.0.1:{port}", token="bench"))
        rows.append((f"HTTP push of that batch ({len(payload)} bytes JSON), keep-alive",
                     *cpu_per_1000(n, lambda i: uploader.post(payload))))
        uploader.close()
    finally:
        server.terminate()
        server.wait()

    print(f"microdc-agent CPU cost, {n} collections each (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print(f"{'what':72} {'CPU s / 1000':>12} {'wall s / 1000':>13}")
    for label, cpu, wall in rows:
        print(f"{label:72} {cpu:12.3f} {wall:13.3f}")
    per_interval = rows[-2][1] + rows[-1][1]
    print(f"\nAt one collection every {INTERVAL:g} s, collect + spool + push costs {per_interval / 1000:.4f} CPU s "
          f"per collection = {per_interval / 1000 / INTERVAL * 100:.3f} % of one core.")
    print("Rerun: .venv/bin/python benchmarks/agent_cpu.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

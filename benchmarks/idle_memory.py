"""Resident memory of the idle appliance: `python -m microdc.launcher` (what `make run` starts) on the demo's
site size (seed_demo), with nothing pushing to it, measured per process after it settles.

Target (issue 13): at most 200 MB resident in all.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PG_ADMIN, ROOT, backends  # noqa: E402

TARGET_MB = 200


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def command_name(pid: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = " ".join(a.decode() for a in argv if a)
    for name in ("uvicorn", "run_worker", "run_periodic"):
        if name in text:
            return {"uvicorn": "web", "run_worker": "worker", "run_periodic": "periodic"}[name]
    return text[:40]


def measure(backend: str, settle: float, port: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, MICRODC_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="microdc.settings",
                   MICRODC_LOG_LEVEL="WARNING", MICRODC_PORT=str(port))
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS microdc_bench_memory")
                conn.execute("CREATE DATABASE microdc_bench_memory")
            env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/microdc_bench_memory"
            env["REDIS_URL"] = "redis://127.0.0.1:6379/12"
        for step in (["migrate", "--noinput"], ["seed_demo"], ["collectstatic", "--noinput"]):
            subprocess.run([sys.executable, "manage.py", *step, "--verbosity", "0"], env=env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        launcher = subprocess.Popen([sys.executable, "-m", "microdc.launcher"], env=env, cwd=ROOT,
                                    stdout=subprocess.DEVNULL)
        try:
            time.sleep(settle)
            # A page and a scrape first, so the web process holds what serving them loads.
            import httpx

            for path in ("/", "/metrics", "/api/v1/"):
                httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
            time.sleep(2)
            return {command_name(pid): rss_mb(pid) for pid in children(launcher.pid)}
        finally:
            launcher.terminate()
            launcher.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds to let the processes settle")
    parser.add_argument("--port", type=int, default=18741)
    args = parser.parse_args()
    for backend in backends(args.backend):
        rss = measure(backend, args.settle, args.port)
        total = sum(rss.values())
        each = ", ".join(f"{name} {mb:.0f} MB" for name, mb in sorted(rss.items()))
        verdict = "meets" if total <= TARGET_MB else "MISSES"
        print(f"{backend}: idle resident memory {total:.0f} MB in all ({each}); {verdict} the {TARGET_MB} MB target")
    print("rerun: .venv/bin/python benchmarks/idle_memory.py [--backend sqlite|postgresql|both] [--settle S]")


if __name__ == "__main__":
    main()

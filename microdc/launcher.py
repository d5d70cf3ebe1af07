"""Start the appliance's processes from one command and keep them together.

`python -m microdc.launcher` (make run): the ASGI web server and the background worker (the task queue and the
periodic jobs, in one process).
`python -m microdc.launcher --demo` (make demo): the same, plus the simulated site's agents and meters.
If any process exits, the others are stopped, so a supervisor (systemd) sees the failure and restarts.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WILDCARDS = ("0.0.0.0", "::")  # noqa: S104 - names the wildcard addresses, binds nothing


def _reachable(host: str) -> str:
    """The address local clients use for a server bound to `host`."""
    return "127.0.0.1" if host in WILDCARDS else host


def _commands(demo: bool, host: str, port: int, workers: int) -> dict[str, list[str]]:
    python = sys.executable
    commands = {
        "web": [python, "-m", "uvicorn", "microdc.asgi:application", "--host", host, "--port", str(port),
                "--workers", str(workers), "--proxy-headers", "--no-server-header", "--log-level", "warning",
                # Longer than any client keeps an idle connection (httpx 5 s, nginx's upstream keepalive 60 s):
                # at uvicorn's 5 s a reused connection could be closed under a request (ReadError in site_load).
                "--timeout-keep-alive", "75"],
        "worker": [python, str(ROOT / "manage.py"), "run_worker"],
    }
    if demo:
        commands["simulators"] = [python, str(ROOT / "manage.py"), "run_simulators",
                                  "--url", f"http://{_reachable(host)}:{port}"]
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="also run the simulated site's agents and meters")
    args = parser.parse_args(argv)

    host = os.environ.get("MICRODC_BIND", "127.0.0.1")
    port = int(os.environ.get("MICRODC_PORT", "8000"))
    workers = int(os.environ.get("MICRODC_WEB_WORKERS", "1"))
    if workers > 1 and not os.environ.get("REDIS_URL"):
        print("MICRODC_WEB_WORKERS > 1 needs REDIS_URL: the in-memory channel layer does not cross processes.",
              file=sys.stderr)
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microdc.settings")

    processes = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in
                 _commands(args.demo, host, port, workers).items()}
    print(f"microdc is serving on http://{_reachable(host)}:{port}/ (API: /api/v1/, docs: /api/docs/). Ctrl-C stops.",
          flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"microdc: {name} exited with status {process.returncode}; stopping.", file=sys.stderr)
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.5)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

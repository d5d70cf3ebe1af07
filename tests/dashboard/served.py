"""The appliance served by real uvicorn processes (and workers) on loopback, over a database of its own.

SQLite (default): a fresh MICRODC_DATA_DIR. With DATABASE_URL set (CI's PostgreSQL run): a throwaway database
``microdc_e2e_<random>`` on the same server, dropped afterwards. With a Redis URL: the channels_redis layer,
under a key prefix of its own so parallel runs never see each other's messages.
Used by the browser test, the two-process test and benchmarks/dashboard_latency.py.
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable



class ThrowawayPostgres:
    """A database created for one run on the server DATABASE_URL names, and dropped after it."""

    def __init__(self, url: str):
        parts = urllib.parse.urlsplit(url)
        self.name = f"microdc_e2e_{secrets.token_hex(4)}"
        self.admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
        self.url = urllib.parse.urlunsplit(parts._replace(path=f"/{self.name}"))

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(sql)

    def create(self) -> str:
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class ServedAppliance:
    def __init__(self, redis_url: str | None = None, extra_env: dict | None = None):
        self.tmp = tempfile.TemporaryDirectory(prefix="microdc-e2e-")
        self.data_dir = Path(self.tmp.name)
        self.postgres = ThrowawayPostgres(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None
        self.env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        self.env.update({"MICRODC_DATA_DIR": str(self.data_dir), "DJANGO_SETTINGS_MODULE": "microdc.settings",
                         "MICRODC_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
        if redis_url:
            self.env["REDIS_URL"] = redis_url
            self.env["MICRODC_REDIS_PREFIX"] = f"microdc-e2e-{secrets.token_hex(4)}"
        self.env.update(extra_env or {})
        self.processes: list[tuple[subprocess.Popen, int, Path]] = []
        self.seed: dict = {}

    def prepare(self, hours: float = 2.0, quiet: tuple[str, ...] = ("gpu-a01-01",)) -> dict:
        """Create the database, migrate it and seed the demo site with history (the `quiet` nodes fell silent
        ten minutes ago); returns the seed's summary."""
        if self.postgres is not None:
            self.env["DATABASE_URL"] = self.postgres.create()
        self._run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], "migrate")
        quiet_args = [arg for hostname in quiet for arg in ("--quiet-node", hostname)]
        out = self._run([PYTHON, "tests/dashboard/seed_site.py", "--hours", str(hours), *quiet_args], "seed")
        self.seed = json.loads(out.strip().splitlines()[-1])
        return self.seed

    def _run(self, cmd: list[str], what: str) -> str:
        done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr[-3000:]}")
        return done.stdout

    def start(self, port: int | None = None) -> str:
        """Start one more web process (uvicorn) on a free loopback port (or `port`); returns its base URL."""
        port = port or free_port()
        log = self.data_dir / f"uvicorn-{port}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [PYTHON, "-m", "uvicorn", "microdc.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning", "--no-access-log"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append((process, port, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({process.returncode}): {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503):
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer on {url} within 30 s: {log.read_text()[-3000:]}")

    def start_worker(self) -> None:
        """Start one more worker (`manage.py run_worker`: the task queue and the periodic jobs), as `make run`
        does; its output goes to a log of its own."""
        log = self.data_dir / f"worker-{len(self.processes)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([PYTHON, "manage.py", "run_worker"], cwd=ROOT, env=self.env, stdout=out,
                                       stderr=subprocess.STDOUT)
        self.processes.append((process, 0, log))

    def kill(self, index: int = 0) -> int:
        """Stop web process `index` (as a crash or a restart would); returns its port."""
        process, port, _ = self.processes.pop(index)
        process.terminate()
        process.wait(timeout=10)
        return port

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for _, _, log in self.processes if log.exists())

    def stop(self) -> None:
        for process, _, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, _, _ in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self.postgres is not None:
            self.postgres.drop()
        self.tmp.cleanup()


def login(base_url: str, username: str, password: str) -> httpx.Client:
    """An HTTP client holding a logged-in session of the appliance (the login form, CSRF and all)."""
    client = httpx.Client(base_url=base_url, timeout=10)
    page = client.get("/login/")
    token = client.cookies["csrftoken"]
    response = client.post("/login/", data={"username": username, "password": password,
                                            "csrfmiddlewaretoken": token, "next": "/"},
                           headers={"Referer": f"{base_url}/login/"})
    if response.status_code != 302 or "sessionid" not in client.cookies:
        raise RuntimeError(f"login as {username} failed: {response.status_code} {page.status_code}")
    return client


def push(base_url: str, token: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base_url}/api/v1/telemetry/", json=body, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)

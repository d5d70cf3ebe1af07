"""The helpers every test folder shares: free ports, waiting, finding a peer's binary, stopping a peer.

One module, imported as ``from tests.support import ...`` by every test folder, so a fix to how the suite
waits for a port or finds a binary is made once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on now (TCP by default, UDP with socket.SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 20.0, every: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; returns whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 15.0,
                  host: str = "127.0.0.1") -> None:
    """Return once something accepts TCP connections on host:port; raise if `process` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def require_binary(name: str, package: str, *candidates: str) -> str:
    """Path of a peer's binary (on PATH, in /usr/sbin or /usr/bin, or one of `candidates`).

    A skip on a developer machine without it; a failure under CI, which must install the Debian `package`.
    """
    for candidate in (name, f"/usr/sbin/{name}", f"/usr/bin/{name}", *candidates):
        found = shutil.which(candidate) or (candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK)
                                            else None)
        if found:
            return found
    message = f"{name} is not installed (Debian package {package})"
    if os.environ.get("CI"):
        import pytest

        pytest.fail(f"{message}; CI must provide it")
    import pytest

    pytest.skip(message)


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; waits for the process either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def shared_database_url() -> str:
    """DATABASE_URL of the database this test run uses, for real processes a test starts to share it."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class _PromQLHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("query", [""])[0]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [time.time(), str(self.server.answer(query))]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class PromQLPeer(ThreadingHTTPServer):
    """A Prometheus query API on a free loopback port that answers every instant query with one sample,
    `answer(query)`, served on a thread of its own: the peer of facility meters read over PromQL. Stop it with
    shutdown()."""

    request_queue_size = 128  # dozens of meters connect at once; the default backlog of 5 drops SYNs
    daemon_threads = True

    def __init__(self, answer: Callable[[str], float]):
        super().__init__(("127.0.0.1", 0), _PromQLHandler)
        self.answer = answer
        threading.Thread(target=self.serve_forever, daemon=True).start()


def prometheus_agent_flag(binary: str) -> str:
    """The flag that starts `binary` in agent mode: `--agent` from Prometheus 3, `--enable-feature=agent` before."""
    done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return "--agent" if "--agent " in done.stdout + done.stderr else "--enable-feature=agent"


class PrometheusServer:
    """Debian's Prometheus on a loopback port, scraping `targets` ("host:port") every second, with optional rule
    files; `query(promql)` answers from its HTTP API (a starting server answers 503 in plain text).

    `config` (YAML text) replaces the generated config; `agent` runs it in agent mode (a WAL, no queries);
    `flags` are added to the command line. stop() and start() again keep the port and the storage, as when the
    server goes away and comes back."""

    def __init__(self, tmp_path, targets: list[str] = (), rule_files: tuple = (), metrics_token: str = "",
                 config: str | None = None, agent: bool = False, flags: tuple = ()):
        self.binary = require_binary("prometheus", "prometheus")
        self.port = free_port()
        self.dir = tmp_path / f"prometheus-{self.port}"
        self.dir.mkdir()
        self.agent = agent
        self.flags = tuple(flags)
        if config is None:
            auth = f"    authorization: {{credentials: '{metrics_token}'}}\n" if metrics_token else ""
            rules = "".join(f"  - {path}\n" for path in rule_files)
            config = ("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      + (f"rule_files:\n{rules}" if rules else "")
                      + "scrape_configs:\n  - job_name: microdc\n    metrics_path: /metrics\n" + auth
                      + f"    static_configs: [{{targets: {list(targets)!r}}}]\n")
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(config)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        storage = ([prometheus_agent_flag(self.binary), f"--storage.agent.path={self.dir / 'wal'}"] if self.agent
                   else [f"--storage.tsdb.path={self.dir / 'tsdb'}"])
        # stderr to a file, not a pipe nobody reads: a server logging every failed remote write would fill a pipe.
        with (self.dir / "stderr.log").open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config}", *storage,
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn", *self.flags],
                stdout=subprocess.DEVNULL, stderr=log)
        wait_for_port(self.port, self.process, timeout=30)
        return self

    def log(self) -> str:
        """The end of what the server wrote to stderr (its warnings and errors), for a failing assertion."""
        path = self.dir / "stderr.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def query(self, promql: str, at: float | None = None) -> dict:
        """The API's answer ({"status", "data"} or {"status": "error", "error"}), at Unix time `at` if given;
        raises while it starts."""
        import httpx

        params = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        response = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        raise RuntimeError(f"Prometheus not ready: HTTP {response.status_code} {response.text[:100]}")

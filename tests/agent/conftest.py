"""Shared peers and fakes for the agent tests (no Django needed).

- ``fake_nvml``: replaces the functions of the REAL ``pynvml`` module (nvidia-ml-py) with ones answering
  from a raw NVML capture (tests/agent/fixtures/nvml_h100.json ``nvml_raw``; see microdc.agent.nvml_replay),
  returning pynvml's own ctypes structures and raising pynvml's own ``NVMLError_*`` classes. Every other
  ``nvml*`` function raises ``NVMLError_FunctionNotFound``, so no test ever reaches a real libnvidia-ml.
- ``telemetry_server``: a real HTTP server on 127.0.0.1 that stores batches by batch_id like the appliance.
- ``sysfs_tree``: builds hwmon / powercap trees under tmp_path.
- ``validate_sample``: checks a sample against the wire format.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
import ssl
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from microdc.agent import nvml_replay
from microdc.agent.sender import Uploader
from microdc.agent.spool import Spool

FIXTURES = Path(__file__).parent / "fixtures"


# -- NVML --------------------------------------------------------------------------------------------


@pytest.fixture
def nvml_capture() -> dict[str, Any]:
    """The NVML capture (deep copy: tests may edit it)."""
    return json.loads((FIXTURES / "nvml_h100.json").read_text())


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Callable[..., SimpleNamespace]:
    """``fake_nvml(raw, init_error=None)`` patches pynvml until the test ends; returns call counters."""

    def install(raw: dict[str, Any] | None, init_error: str | None = None) -> SimpleNamespace:
        return nvml_replay.install(raw, monkeypatch.setattr, init_error, pynvml)

    return install


# -- closing what the tests open --------------------------------------------------------------------


@pytest.fixture
def make_spool() -> Any:
    """Spool(...) closed at teardown."""
    spools: list[Spool] = []

    def make(*args: Any, **kwargs: Any) -> Spool:
        spools.append(Spool(*args, **kwargs))
        return spools[-1]

    yield make
    for spool in spools:
        with contextlib.suppress(sqlite3.ProgrammingError):
            spool.close()


@pytest.fixture
def make_uploader() -> Any:
    """Uploader(...) closed at teardown."""
    uploaders: list[Uploader] = []

    def make(*args: Any, **kwargs: Any) -> Uploader:
        uploaders.append(Uploader(*args, **kwargs))
        return uploaders[-1]

    yield make
    for uploader in uploaders:
        uploader.close()


# -- sysfs -------------------------------------------------------------------------------------------


class SysfsTree:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "class" / "hwmon").mkdir(parents=True, exist_ok=True)
        (root / "class" / "powercap").mkdir(parents=True, exist_ok=True)
        self._n = 0

    def hwmon(self, name: str, files: dict[str, str | int], device: str | None = None) -> Path:
        """Add hwmon<N> with a ``name`` file, attribute files and optionally a ``device`` link."""
        d = self.root / "class" / "hwmon" / f"hwmon{self._n}"
        self._n += 1
        d.mkdir()
        (d / "name").write_text(name + "\n")
        for fname, value in files.items():
            (d / fname).write_text(f"{value}\n")
        if device:
            target = self.root / "devices" / "platform" / device
            target.mkdir(parents=True, exist_ok=True)
            (d / "device").symlink_to(target)
        return d

    def rapl(self, zone: str, name: str, energy_uj: int, max_range_uj: int | None = None) -> Path:
        d = self.root / "class" / "powercap" / zone
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        if max_range_uj is not None:
            (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        return d


@pytest.fixture
def sysfs_tree(tmp_path: Path) -> SysfsTree:
    return SysfsTree(tmp_path / "sys")


# -- /proc and pidfiles ------------------------------------------------------------------------------


class ProcTree:
    """A fake ``/proc`` (``<pid>/cgroup``, ``<pid>/status`` with PPid) and a pidfile directory."""

    def __init__(self, root: Path) -> None:
        self.proc = root / "proc"
        self.run_dir = root / "run" / "microdc"
        self.proc.mkdir(parents=True)
        self.run_dir.mkdir(parents=True)

    def process(self, pid: int, ppid: int = 1, cgroup: str = "0::/user.slice/user-1000.slice/session-1.scope",
                name: str = "python3") -> None:
        d = self.proc / str(pid)
        d.mkdir()
        (d / "cgroup").write_text(cgroup + "\n")
        (d / "status").write_text(f"Name:\t{name}\nState:\tS (sleeping)\nTgid:\t{pid}\nPid:\t{pid}\n"
                                  f"PPid:\t{ppid}\nUid:\t0\t0\t0\t0\n")

    def unit(self, pid: int, unit: str, ppid: int = 1) -> None:
        """A process of a systemd unit (cgroup v2)."""
        self.process(pid, ppid, f"0::/system.slice/{unit}.service")

    def pidfile(self, service: str, supervisor: int, child: int) -> None:
        """What microdc_supervise.py writes: "<supervisor pid> <child pid>"."""
        (self.run_dir / f"{service}.pid").write_text(f"{supervisor} {child}\n")


@pytest.fixture
def proc_tree(tmp_path: Path) -> ProcTree:
    return ProcTree(tmp_path)


# -- the wire format -----------------------------------------------------------------------------------


_METRIC_NAME = re.compile(r"[a-z][a-z0-9_]*_(watts|joules|celsius|ratio|bytes|hertz|total|per_second)")
_DEVICE_REQUIRED = {"kind", "index", "uuid", "vendor", "simulated", "metrics"}
_DEVICE_OPTIONAL = {"name", "throttle_reasons", "mig_mode"}


def _check_metrics(where: str, metrics: Any) -> None:
    assert isinstance(metrics, dict), f"{where}.metrics is not an object"
    for key, value in metrics.items():
        assert isinstance(value, int | float) and not isinstance(value, bool), (
            f"{where}.metrics.{key}={value!r}")
        assert math.isfinite(value), f"{where}.metrics.{key} is not finite"
        assert _METRIC_NAME.fullmatch(key), f"{where}.metrics.{key}: not a base-unit metric name"


def validate_sample(sample: dict[str, Any]) -> None:
    """Fail with the offending path when ``sample`` breaks the wire format."""
    assert set(sample) >= {"ts", "devices", "sensors"}, f"sample keys: {sorted(sample)}"
    ts = datetime.fromisoformat(sample["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0, f"ts not UTC: {sample['ts']}"
    for i, d in enumerate(sample["devices"]):
        where = f"devices[{i}]"
        assert set(d) >= _DEVICE_REQUIRED, f"{where} keys {sorted(d)}"
        assert set(d) <= _DEVICE_REQUIRED | _DEVICE_OPTIONAL, f"{where} has unknown keys {sorted(d)}"
        assert d["kind"] == "gpu" and isinstance(d["index"], int) and isinstance(d["uuid"], str) and d["uuid"]
        assert isinstance(d["simulated"], bool)
        _check_metrics(where, d["metrics"])
        if "throttle_reasons" in d:
            assert all(re.fullmatch(r"[a-z0-9_]+", r) for r in d["throttle_reasons"]), d["throttle_reasons"]
        if "mig_mode" in d:
            assert d["mig_mode"] in ("enabled", "disabled")
    for i, s in enumerate(sample["sensors"]):
        where = f"sensors[{i}]"
        assert set(s) == {"source", "chip", "name", "simulated", "metrics"}, f"{where} keys {sorted(s)}"
        assert s["source"] in ("hwmon", "rapl", "nvml-process") and s["chip"] and s["name"]
        assert isinstance(s["simulated"], bool)
        _check_metrics(where, s["metrics"])
    assert "null" not in json.dumps(sample), "unknown values must be left out, never null"


@pytest.fixture(name="validate_sample")
def validate_sample_fixture() -> Callable[[dict[str, Any]], None]:
    return validate_sample


# -- a stand-in appliance ------------------------------------------------------------------------------


class TelemetryServer:
    """Stores batches by batch_id, answers 202 {"accepted", "duplicate"} like the appliance's ingest.
    ``script`` lists answers (status, or (status, headers)) given, without storing, to the next requests."""

    def __init__(self, token: str = "node-token-123", ssl_context: ssl.SSLContext | None = None) -> None:
        self.token = token
        self.ssl_context = ssl_context
        self.port = 0
        self.batches: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # batch_ids in the order they were first stored
        self.attempts: list[tuple[str | None, int]] = []  # (batch_id, status) for every request
        self.script: list[int] = []
        self.reply_extra: dict[str, Any] = {}  # added to every 202 answer, e.g. {"power_limits": {...}}
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def samples(self) -> list[dict[str, Any]]:
        with self.lock:
            return [s for bid in self.order for s in self.batches[bid]["samples"]]

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any], batch_id: str | None,
                        headers: dict[str, str] | None = None) -> None:
                with server.lock:
                    server.attempts.append((batch_id, status))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/v1/telemetry/":
                    return self._answer(404, {"detail": f"no route {self.path}"}, None)
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._answer(401, {"detail": "invalid node token"}, None)
                try:
                    batch = json.loads(body)
                    batch_id = batch["batch_id"]
                except (ValueError, KeyError):
                    return self._answer(400, {"detail": "malformed batch"}, None)
                with server.lock:
                    scripted = server.script.pop(0) if server.script else None
                if scripted is not None:
                    status, headers = scripted if isinstance(scripted, tuple) else (scripted, {})
                    return self._answer(status, {"detail": f"scripted {status}"}, batch_id, headers)
                with server.lock:
                    duplicate = batch_id in server.batches
                    if not duplicate:
                        server.batches[batch_id] = batch
                        server.order.append(batch_id)
                self._answer(202, {"accepted": len(batch["samples"]), "duplicate": duplicate,
                                   **server.reply_extra}, batch_id)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        if self.ssl_context is not None:
            self._httpd.socket = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None


@pytest.fixture
def make_telemetry_server() -> Any:
    """Factory for servers with options (TLS); all are stopped at teardown."""
    servers: list[TelemetryServer] = []

    def make(**kwargs: Any) -> TelemetryServer:
        server = TelemetryServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def telemetry_server(make_telemetry_server: Callable[..., TelemetryServer]) -> TelemetryServer:
    return make_telemetry_server()

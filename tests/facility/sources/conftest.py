"""Real protocol peers on loopback for the meter source tests: sushy-static, snmpd, Prometheus, pymodbus.

Each peer binds a free port, is started by the fixture and stopped afterwards. A peer whose binary is
missing skips its tests with the reason, except under CI (CI set), where a missing binary fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port, require_binary, stop_process, wait_for_port

REPO = Path(__file__).resolve().parents[3]


def shared_dir() -> Path:
    """The shared/ folder: beside the checkout (CI and the workbench), or inside it."""
    for candidate in (REPO.parent / "shared", REPO / "shared"):
        if (candidate / "fixtures" / "redfish").is_dir():
            return candidate
    pytest.fail(f"shared fixtures not found beside or inside {REPO} (expected ../shared/fixtures/redfish)")






# --- Redfish: sushy-static ------------------------------------------------------------------------


@dataclass
class Peer:
    host: str
    port: int


@pytest.fixture(scope="session")
def redfish_fixtures() -> Path:
    return shared_dir() / "fixtures" / "redfish"


@pytest.fixture(scope="session")
def sushy_static() -> Iterator[Callable[..., Peer]]:
    """Start sushy-static on a mockup directory: ``sushy_static(path, cert=None, key=None)``."""
    binary = require_binary("sushy-static", "sushy-tools (PyPI)", str(Path(sys.executable).parent / "sushy-static"))
    processes: list[subprocess.Popen] = []

    def start(mockup: Path, cert: Path | None = None, key: Path | None = None) -> Peer:
        port = free_port()
        command = [binary, "-i", "127.0.0.1", "-p", str(port), "-m", str(mockup)]
        if cert and key:
            command += ["-c", str(cert), "-k", str(key)]
        # sushy-static prints every request's headers: keep them out of the test output.
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        wait_for_port(port, process)
        return Peer("127.0.0.1", port)

    yield start
    for process in processes:
        stop_process(process)


# --- SNMP: Debian snmpd with override lines ---------------------------------------------------------


@dataclass
class SnmpdPeer(Peer):
    v3_user: str
    auth_key: str
    priv_key: str


@pytest.fixture(scope="session")
def start_snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[dict], SnmpdPeer]]:
    """Start snmpd serving ``{oid: (override type, value)}``, community ``public`` and a v3 user."""
    binary = require_binary("snmpd", "snmpd")
    processes: list[subprocess.Popen] = []

    def start(objects: dict[str, tuple[str, object]]) -> SnmpdPeer:
        workdir = tmp_path_factory.mktemp("snmpd")
        port = free_port(socket.SOCK_DGRAM)
        peer = SnmpdPeer("127.0.0.1", port, "microdc", "auth-key-for-tests", "priv-key-for-tests")
        lines = [
            "rocommunity public 127.0.0.1",
            f'createUser {peer.v3_user} SHA "{peer.auth_key}" AES "{peer.priv_key}"',
            f"rouser {peer.v3_user} priv",
        ]
        for oid, (kind, value) in objects.items():
            rendered = f'"{value}"' if kind == "octet_str" else str(value)
            lines.append(f"override .{oid} {kind} {rendered}")
        config = workdir / "snmpd.conf"
        config.write_text("\n".join(lines) + "\n")
        (workdir / "persist").mkdir()
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(workdir / "persist"), "MIBS": "", "MIBDIRS": str(workdir)}
        process = subprocess.Popen(
            [binary, "-f", "-Lf", str(workdir / "snmpd.log"), "-C", "-c", str(config), f"udp:127.0.0.1:{port}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        _wait_for_snmp(peer, process, workdir / "snmpd.log")
        return peer

    yield start
    for process in processes:
        stop_process(process)


def _wait_for_snmp(peer: SnmpdPeer, process: subprocess.Popen, log: Path) -> None:
    from microdc.facility.sources import MeterError, get_source

    deadline = time.monotonic() + 15
    settings = {"profile": "custom", "oids": [{"oid": "1.3.6.1.2.1.1.3.0", "quantity": "load_ratio"}]}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"snmpd exited ({process.returncode}): {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(MeterError):
            get_source("snmp").read(peer.host, peer.port, settings, {}, 0.5)
            return
    raise RuntimeError("snmpd did not answer within 15 s")


# --- Prometheus scraping a tiny exporter ---------------------------------------------------------------


@pytest.fixture(scope="session")
def start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[dict[str, float]], int]]:
    """Serve ``{series: value}`` in the text format and start Prometheus scraping it every second.

    Returns Prometheus's port once the first scrape has landed.
    """
    import httpx

    binary = require_binary("prometheus", "prometheus")
    cleanups: list[Callable[[], None]] = []

    def start(series: dict[str, float]) -> int:
        exporter = _serve_text("".join(f"{name} {value}\n" for name, value in series.items()))
        cleanups.append(exporter.shutdown)
        workdir = tmp_path_factory.mktemp("prometheus")
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: meters\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{exporter.server_address[1]}']\n"
        )
        port = free_port()
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        cleanups.append(lambda: stop_process(process))
        wait_for_port(port, process, timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up == 1"}).json()
                if answer.get("data", {}).get("result"):
                    return port
            time.sleep(0.2)
        raise RuntimeError("Prometheus did not scrape the exporter within 30 s")

    yield start
    for cleanup in reversed(cleanups):
        cleanup()


def _serve_text(text: str):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = text.encode()

    class Exporter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- Modbus: a pymodbus server in a thread -----------------------------------------------------------


class ModbusTestServer:
    """A pymodbus TCP server holding fixed registers: ``{unit id: {"holding": {addr: [..]}, "input": ...}}``."""

    def __init__(self, units: dict[int, dict[str, dict[int, list[int]]]]):
        self.units = units
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.server = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ModbusTestServer:
        self.thread.start()
        assert self.ready.wait(10), "pymodbus server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(timeout=5)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        def blocks(tables: dict[int, list[int]]) -> list:
            return [SimData(address=a, values=v, datatype=DataType.REGISTERS) for a, v in sorted(tables.items())]

        async def serve() -> None:
            devices = []
            for unit, tables in self.units.items():
                bits = [SimData(0, count=1, values=False, datatype=DataType.BITS)]
                holding = blocks(tables.get("holding", {})) or [SimData(0, datatype=DataType.INVALID)]
                inputs = blocks(tables.get("input", {})) or [SimData(0, datatype=DataType.INVALID)]
                devices.append(SimDevice(id=unit, simdata=(bits, bits, holding, inputs)))
            self.server = ModbusTcpServer(context=devices, address=("127.0.0.1", 0))
            await self.server.serve_forever(background=True)
            self.port = self.server.transport.sockets[0].getsockname()[1]
            self.ready.set()
            await self.server.serving

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(serve())


@pytest.fixture(scope="session")
def modbus_server_class() -> type[ModbusTestServer]:
    """The in-process pymodbus server, as a fixture so test modules need not import conftest."""
    return ModbusTestServer


# --- misc peers for bad-input tests --------------------------------------------------------------------


@pytest.fixture
def silent_tcp() -> Iterator[Peer]:
    """A TCP port that accepts connections and never answers: the dead meter that must not hang us."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connection, _ = server.accept()
                accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield Peer("127.0.0.1", server.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()


@pytest.fixture
def silent_udp() -> Iterator[Peer]:
    """A UDP port that swallows every datagram (an SNMP agent that never answers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield Peer("127.0.0.1", sock.getsockname()[1])
    sock.close()


@pytest.fixture
def http_server() -> Iterator[Callable[[Callable], Peer]]:
    """A stdlib HTTP server answering every GET/POST with ``respond(handler)``: for garbage answers."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    servers: list[ThreadingHTTPServer] = []

    def start(respond: Callable[[BaseHTTPRequestHandler], None]) -> Peer:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                respond(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return Peer("127.0.0.1", server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()

"""Fixtures for the Ansible integration tests: a real sshd on a loopback port as the node, the runner
wrapper pointed at it, a scikit-learn model made at test time and small HTTP peers."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.playbooks.ansible_helpers import (
    NODE_PYTHON,
    SKLEARN_PIN,
    TRAIN,
    HttpPeer,
    Model,
    SshNode,
    node_prefix,
)
from tests.support import free_port, require_binary, wait_for_port


@pytest.fixture(scope="session")
def ssh_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshNode]:
    sshd = require_binary("/usr/sbin/sshd", "openssh-server")
    keygen = require_binary("ssh-keygen", "openssh-client")
    require_binary("ssh-agent", "openssh-client")
    if os.geteuid() != 0:
        pytest.skip("the sshd node logs in as root; run the tests as root (as CI does)")
    work = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"microdc-test-{name}",
                        "-f", str(work / name)], check=True)
    shutil.copy(work / "client_key.pub", work / "authorized_keys")
    port = free_port()
    config = work / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1",
        f"HostKey {work / 'host_key'}",
        f"AuthorizedKeysFile {work / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # The key files live in pytest's temp tree, whose modes sshd's strict checks would refuse.
        "StrictModes no",
        "PidFile none",
        "MaxStartups 50",
        "Subsystem sftp internal-sftp",
        "",
    ]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    log = open(work / "sshd.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config), "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        pytest.fail(f"sshd did not start: {(work / 'sshd.log').read_text()}")
    cache = tmp_path_factory.mktemp("controller-cache")
    jobs = tmp_path_factory.mktemp("jobs")
    yield SshNode(port=port, key=work / "client_key", known_hosts=work / "known_hosts",
                  controller_cache=cache, jobs_dir=jobs)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def node_root(tmp_path: Path) -> Iterator[Path]:
    """A fresh microdc_service_prefix for one test, which the model servers' account can pass through."""
    with node_prefix("node") as root:
        yield root


# --- a scikit-learn model made at test time -------------------------------------------------------

def _trainer_python() -> str:
    """A venv with the runtime's scikit-learn, kept between sessions (pip's cache makes it cheap)."""
    venv = Path(tempfile.gettempdir()) / f"microdc-test-trainer-{SKLEARN_PIN.replace('==', '-')}"
    python = venv / "bin" / "python"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([NODE_PYTHON, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", SKLEARN_PIN, "joblib"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            (venv / ".complete").touch()
    return str(python)


@pytest.fixture(scope="session")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    out = subprocess.run([_trainer_python(), "-c", TRAIN, str(path)], check=True, capture_output=True, text=True)
    facts = json.loads(out.stdout)
    return Model(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                 inputs=facts["inputs"], expected=facts["predict"])


# --- small HTTP peers on loopback -------------------------------------------------------------------

class _QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _file_server(root: Path) -> Iterator[Callable[[Path], str]]:
    """Serve copies of files over HTTP on loopback; yields a function giving a file's URL."""
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietFileHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def serve(path: Path) -> str:
        shutil.copy(path, root / path.name)
        return f"http://127.0.0.1:{server.server_address[1]}/{path.name}"

    yield serve
    server.shutdown()
    server.server_close()


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    yield from _file_server(tmp_path / "served")


@pytest.fixture(scope="module")
def module_file_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], str]]:
    yield from _file_server(tmp_path_factory.mktemp("served"))


@pytest.fixture
def telemetry_sink() -> Iterator[HttpPeer]:
    """Stands in for the appliance's telemetry endpoint: records every POST, answers 202."""
    requests: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"accepted": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield HttpPeer(url=f"http://127.0.0.1:{server.server_address[1]}", requests=requests)
    server.shutdown()
    server.server_close()



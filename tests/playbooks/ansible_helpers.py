"""Helpers for the Ansible integration tests (imported by conftest.py and the test modules).

Every path the playbooks write on the "node" (this machine, reached over SSH) hangs below a temporary
``microdc_service_prefix``, so the tests never touch the host's /etc, /opt or /run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microdc.provisioning.runner import Host, JobResult, run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
DATA = Path(__file__).resolve().parent / "data"
NODE_PYTHON = "/usr/bin/python3"
# Must match roles/mlserver/defaults/main.yml: a joblib pickle loads reliably only in its own version.
SKLEARN_PIN = "scikit-learn==1.9.1"





def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains text (to prove nothing was left running)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and pid_alive(int(entry)):
            found.append(int(entry))
    return found


@dataclass
class SshNode:
    """The node the playbooks run against: this machine through a dedicated sshd."""

    port: int
    key: Path
    known_hosts: Path
    controller_cache: Path
    jobs_dir: Path
    host_vars: dict[str, Any] = field(default_factory=lambda: {"ansible_python_interpreter": NODE_PYTHON})

    def host(self, name: str = "node1") -> Host:
        return Host(name=name, address="127.0.0.1", port=self.port, user="root", vars=self.host_vars)

    def run(self, playbook: str, extravars: dict[str, Any], **kwargs: Any) -> JobResult:
        kwargs.setdefault("timeout", 600)
        data_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.jobs_dir))
        return run_playbook(
            playbook, [self.host()], extravars=extravars, private_key_path=self.key,
            data_dir=data_dir, known_hosts=self.known_hosts, controller_cache=self.controller_cache,
            **kwargs,
        )


def stop_supervised(root: Path) -> None:
    """Stop every service a test left supervised below a node root (teardown; failures included)."""
    tool = root / "opt/microdc/lib/microdc_supervise.py"
    for spec in sorted((root / "etc/microdc/supervised").glob("*.json")):
        if tool.exists():
            subprocess.run([NODE_PYTHON, str(tool), "stop", str(spec)], capture_output=True, timeout=60)


@contextlib.contextmanager
def node_prefix(name: str) -> Iterator[Path]:
    """A node's microdc_service_prefix that other users can pass through, as they can a node's /opt: pytest
    keeps its own temp tree 0700 (and concurrent runs prune it), which would hide the prefix from the model
    servers' unprivileged account. Services left supervised below it are stopped, then it is removed."""
    root = Path(tempfile.mkdtemp(prefix=f"microdc-{name}-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        stop_supervised(root)
        shutil.rmtree(root, ignore_errors=True)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


TRAIN = """
import json, sys
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0], [12.0], [13.0]])
y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
model = LogisticRegression().fit(X, y)
joblib.dump(model, sys.argv[1])
probe = [[0.5], [6.0], [11.5], [-4.0]]
print(json.dumps({"inputs": [p[0] for p in probe], "predict": model.predict(probe).tolist()}))
"""


@dataclass
class Model:
    path: Path
    sha256: str
    inputs: list[float]
    expected: list[int]


@dataclass
class HttpPeer:
    url: str
    requests: list[dict[str, Any]]


def supervised_pids(root: Path, service: str) -> tuple[int, int]:
    pidfile = root / "run" / "microdc" / f"{service}.pid"
    supervisor, child = (int(x) for x in pidfile.read_text().split())
    return supervisor, child


def assert_no_secret(result: JobResult, events: list[dict[str, Any]], secret: str) -> None:
    assert secret not in json.dumps(events), "a secret reached the forwarded events"
    assert secret not in result.stdout(), "a secret reached the job's stdout"
    leaked = [str(p) for p in result.private_data_dir.rglob("*")
              if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == [], f"a secret was left in the job's data directory: {leaked}"

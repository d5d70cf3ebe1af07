"""The ``microdc-agent`` console script, run as a subprocess."""

from __future__ import annotations

import contextlib
import ctypes.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TOP_KEYS = {"node", "ts", "devices", "sensors", "collectors"}


def agent_command() -> list[str]:
    script = Path(sys.executable).parent / "microdc-agent"
    return [str(script)] if script.exists() else [sys.executable, "-m", "microdc.agent"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRODC_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*agent_command(), *args], capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())


def test_once_json_simulated(validate_sample):
    proc = run_agent("--once", "--json", "--collectors", "simulated", "--sim-gpus", "3", "--node", "sim-node-07",
                     "--sim-seed", "5")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == TOP_KEYS
    assert out["node"] == "sim-node-07"
    assert out["collectors"] == {"simulated": "ok"}
    assert len(out["devices"]) == 3 and out["sensors"] == []
    assert all(d["simulated"] is True and d["uuid"].startswith("GPU-SIM-") for d in out["devices"])
    validate_sample(out)
    again = json.loads(run_agent("--once", "--json", "--collectors", "simulated", "--sim-gpus", "3", "--node",
                                 "sim-node-07", "--sim-seed", "5").stdout)
    assert [d["uuid"] for d in again["devices"]] == [d["uuid"] for d in out["devices"]]


def test_once_json_default_collectors_report_their_status(sysfs_tree, validate_sample):
    sysfs_tree.hwmon("coretemp", {"temp1_input": 48000, "temp1_label": "Package id 0"})
    sysfs_tree.rapl("intel-rapl:0", "package-0", 123_000_000, 262_143_328_850)
    proc = run_agent("--once", "--json", "--sysfs-root", str(sysfs_tree.root), "--node", "n1")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["collectors"]) == {"nvml", "sysfs"}
    assert out["collectors"]["sysfs"] == "ok"
    if not ctypes.util.find_library("nvidia-ml"):
        assert out["collectors"]["nvml"].startswith("unavailable: NVML library not found")
        assert out["devices"] == []
        assert proc.stderr.count("NVML unavailable") == 1
    assert {(s["source"], s["name"]) for s in out["sensors"]} == {("hwmon", "Package id 0"), ("rapl", "package-0")}
    validate_sample(out)


def test_once_human_readable():
    proc = run_agent("--once", "--collectors", "simulated", "--sim-gpus", "1")
    assert proc.returncode == 0, proc.stderr
    assert "collector simulated: ok" in proc.stdout and "power_watts" in proc.stdout


def test_daemon_pushes_and_stops_cleanly_on_sigterm(tmp_path, telemetry_server):
    token_file = tmp_path / "token"
    token_file.write_text(telemetry_server.token + "\n")
    spool = tmp_path / "spool.sqlite3"
    env = clean_env(MICRODC_NODE_TOKEN="not-this-one", MICRODC_URL=telemetry_server.url)
    proc = subprocess.Popen(
        [*agent_command(), "--token-file", str(token_file), "--collectors", "simulated", "--sim-gpus", "2",
         "--interval", "0.05", "--node", "sim-node-01", "--spool", str(spool), "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while len(telemetry_server.order) < 3:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no batches arrived"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "received SIGTERM" in stderr and "microdc-agent stopped" in stderr
    assert telemetry_server.token not in stderr, "the node token was logged"
    batches = list(telemetry_server.batches.values())
    assert all(b["node"] == "sim-node-01" and b["agent_version"] == "0.1.0" for b in batches)
    with contextlib.closing(sqlite3.connect(spool)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0, "spool not flushed at exit"


def test_daemon_without_token_says_what_is_missing(tmp_path):
    proc = run_agent("--url", "http://127.0.0.1:9", "--spool", str(tmp_path / "s.sqlite3"),
                     "--collectors", "simulated")
    assert proc.returncode == 2
    assert "no node token configured (--token-file or MICRODC_NODE_TOKEN)" in proc.stderr


def test_daemon_without_url_says_what_is_missing(tmp_path):
    proc = run_agent("--collectors", "simulated", env=clean_env(MICRODC_NODE_TOKEN="t"))
    assert proc.returncode == 2 and "no appliance URL configured (--url or MICRODC_URL)" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--collectors", "nvml,gpu"], "unknown collector(s) gpu"),
    (["--interval", "0"], "argument --interval: must be > 0"),
    (["--interval", "soon"], "argument --interval: not a number: 'soon'"),
])
def test_bad_options_are_named(args, message):
    proc = run_agent("--once", *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_environment_fallbacks():
    proc = run_agent("--once", "--json", env=clean_env(MICRODC_COLLECTORS="simulated", MICRODC_SIM_GPUS="2",
                                                       MICRODC_NODE="env-node"))
    out = json.loads(proc.stdout)
    assert out["node"] == "env-node" and len(out["devices"]) == 2


def test_agent_imports_nothing_from_django_or_other_apps():
    code = (
        "import sys, microdc.agent.cli, microdc.agent.agent, microdc.agent.sender, microdc.agent.nvml_replay\n"
        "import microdc.agent.collectors.nvml, microdc.agent.collectors.sysfs, microdc.agent.collectors.simulated\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'channels')\n"
        "             or (m.startswith('microdc.') and not m.startswith('microdc.agent')))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"the agent imported {proc.stdout.strip()}"

#!/usr/bin/env python3
"""Overhead of the appliance's Ansible path: the same playbook on the same target, run through the
ansible-runner wrapper (microdc.provisioning.runner.run_playbook: private data dir, unsafe extravars,
ssh-agent key, event callback) and as plain ``ansible-playbook``. Target: wrapper/plain <= 1.15.
Also reports how many events per second reach the wrapper's callback.

The target is this machine through a throw-away sshd on a loopback port (Debian openssh-server, run
as root). The workload is bootstrap_node.yml's second (no-change) run: ~20 tasks, ssh, file checks,
pip, the supervisor, like a real idempotent job; a warm-up run installs the agent first.

    .venv/bin/python benchmarks/ansible_overhead.py [--runs 5] [--events 300]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from microdc.provisioning.runner import Host, dump_unsafe_yaml, run_playbook
from microdc.provisioning.runner.hosts import build_inventory
from microdc.provisioning.runner.run import PLAYBOOKS_DIR, _ssh_common_args

TARGET = 1.15
NODE_PYTHON = "/usr/bin/python3"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sshd(work: Path) -> tuple[subprocess.Popen, int, Path]:
    sshd = "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK) or not shutil.which("ssh-keygen"):
        raise SystemExit("needs /usr/sbin/sshd and ssh-keygen: apt-get install -y openssh-server")
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark's sshd node logs in as root")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)], check=True)
    shutil.copy(work / "client_key.pub", work / "authorized_keys")
    port = free_port()
    (work / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"HostKey {work / 'host_key'}", f"AuthorizedKeysFile {work / 'authorized_keys'}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "StrictModes no", "PidFile none", "MaxStartups 50", "Subsystem sftp internal-sftp", ""]))
    Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(work / "sshd_config"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port, work / "client_key"
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("sshd did not start")


def plain_run(playbook: str, project: Path, host: Host, extravars: dict, key: Path, known_hosts: Path,
              cache: Path) -> float:
    """ansible-playbook with the settings the wrapper uses, minus the wrapper."""
    with tempfile.TemporaryDirectory(prefix="plain-") as tmp:
        tmpdir = Path(tmp)
        inventory = tmpdir / "hosts.yml"
        inventory.write_text(dump_unsafe_yaml(build_inventory([host], _ssh_common_args(known_hosts, "accept-new"))))
        extra = tmpdir / "extravars.yml"
        extra.write_text(dump_unsafe_yaml(extravars))
        control = Path(tempfile.mkdtemp(prefix="mdc-cp-"))
        env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PLAYBOOKS_DIR / "roles"), ANSIBLE_PIPELINING="True",
                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(control),
                   ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=30s",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="True", MICRODC_CONTROLLER_CACHE=str(cache),
                   PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        started = time.monotonic()
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra}",
                               "--private-key", str(key), playbook], cwd=project, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.monotonic() - started
        shutil.rmtree(control, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"plain ansible-playbook failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each (default 3)")
    parser.add_argument("--events", type=int, default=300, help="items in the event-heavy job (default 300)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="microdc-bench-"))
    sshd, port, key = start_sshd(work)
    try:
        root, cache, known = work / "node-root", work / "cache", work / "known_hosts"
        root.mkdir()
        host = Host(name="node1", address="127.0.0.1", port=port, vars={"ansible_python_interpreter": NODE_PYTHON})
        extravars = {"microdc_service_prefix": str(root), "microdc_agent_url": "http://127.0.0.1:9/",
                     "microdc_agent_token": "bench-token-0123456789",
                     "microdc_agent_args": ["--collectors", "simulated", "--interval", "60"]}

        def wrapped(playbook: str, project: Path, variables: dict) -> tuple[float, int]:
            started = time.monotonic()
            result = run_playbook(playbook, [host], extravars=variables, private_key_path=key, known_hosts=known,
                                  controller_cache=cache, project_dir=project,
                                  data_dir=tempfile.mkdtemp(prefix="job-", dir=work), on_event=lambda e: None)
            elapsed = time.monotonic() - started
            if result.status != "successful":
                raise SystemExit(f"wrapper run failed:\n{result.stdout()[-3000:]}")
            return elapsed, result.event_count

        print("warm-up: installing the agent on the benchmark node ...", flush=True)
        wrapped("bootstrap_node.yml", PLAYBOOKS_DIR, extravars)

        plain_times, wrapper_times, event_counts = [], [], []
        for _ in range(args.runs):  # alternate, so drift on a shared machine hits both alike
            plain_times.append(plain_run("bootstrap_node.yml", PLAYBOOKS_DIR, host, extravars, key, known, cache))
            elapsed, events = wrapped("bootstrap_node.yml", PLAYBOOKS_DIR, extravars)
            wrapper_times.append(elapsed)
            event_counts.append(events)

        # An event-heavy job: many fast tasks results, to see the callback path's throughput.
        heavy_dir = work / "heavy"
        heavy_dir.mkdir()
        (heavy_dir / "events.yml").write_text(
            "---\n- name: Many events\n  hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - name: One event per item\n      ansible.builtin.debug:\n        msg: \"{{ item }}\"\n"
            f"      loop: \"{{{{ range({args.events}) | list }}}}\"\n")
        heavy_time, heavy_events = wrapped("events.yml", heavy_dir, {})

        plain, wrapper = statistics.median(plain_times), statistics.median(wrapper_times)
        ratio = wrapper / plain
        fmt = ", ".join
        print(f"\nansible overhead (bootstrap_node.yml, no-change run, sshd on 127.0.0.1:{port}, "
              f"{args.runs} runs each)")
        print(f"  plain ansible-playbook : median {plain:6.2f} s  ({fmt(f'{t:.2f}' for t in plain_times)})")
        print(f"  runner wrapper         : median {wrapper:6.2f} s  ({fmt(f'{t:.2f}' for t in wrapper_times)})")
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"  ratio wrapper/plain    : {ratio:.3f}  (target <= {TARGET}: {verdict})")
        print(f"  events per job         : {statistics.median(event_counts):.0f}, "
              f"{statistics.median(event_counts) / wrapper:.1f} events/s during the job")
        print(f"  event-heavy job        : {heavy_events} events in {heavy_time:.2f} s = "
              f"{heavy_events / heavy_time:.0f} events/s reaching the callback")
        print(f"rerun: {shlex.join([sys.executable, 'benchmarks/ansible_overhead.py', '--runs', str(args.runs)])}")
        return 0
    finally:
        sup = root / "opt/microdc/lib/microdc_supervise.py"
        spec = root / "etc/microdc/supervised/microdc-agent.json"
        if sup.exists() and spec.exists():
            subprocess.run([NODE_PYTHON, str(sup), "stop", str(spec)], capture_output=True)
        sshd.terminate()
        sshd.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

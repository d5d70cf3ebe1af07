"""Run one of microdc's playbooks through ansible-runner, in a private data directory per job.

Plain Python (no Django): the job service calls ``run_playbook`` from the worker and stores what the
callbacks hand it. Layout of the private data directory::

    DATA_DIR/
      inventory/hosts.yml         generated from the hosts given (+ group_vars copied from inventory/)
      env/extravars               YAML, every string !unsafe, mode 0600; deleted after the run
      artifacts/<ident>/stdout    the run's output (secrets redacted), job_events/*.json
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .hosts import Host, as_hosts, build_inventory
from .results import REPORTED_FACTS, HostResult, JobResult, stats_to_hosts
from .scrub import Scrubber, secrets_in
from .unsafe import dump_unsafe_yaml

REPO_DIR = Path(__file__).resolve().parents[3]
PLAYBOOKS_DIR = Path(os.environ.get("MICRODC_PLAYBOOKS_DIR") or REPO_DIR / "playbooks")
INVENTORY_DIR = Path(os.environ.get("MICRODC_INVENTORY_DIR") or REPO_DIR / "inventory")
PLAYBOOKS = ("bootstrap_node.yml", "deploy_model_server.yml", "remove_model_server.yml")
HOST_KEY_POLICIES = ("strict", "accept-new")

EventCallback = Callable[[dict[str, Any]], None]
StatusCallback = Callable[[str], None]


def _ssh_common_args(known_hosts: Path, host_key_policy: str) -> str:
    # "strict": the node's key must already be in known_hosts (the appliance recorded it);
    # "accept-new": trust on first use, then pin it in known_hosts. Never "no".
    checking = "yes" if host_key_policy == "strict" else "accept-new"
    return " ".join([
        "-o", f"UserKnownHostsFile={shlex.quote(str(known_hosts))}",
        "-o", f"StrictHostKeyChecking={checking}",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=15",
    ])


def _prepare(data_dir: Path, hosts: list[Host], extravars: Mapping[str, Any], known_hosts: Path,
             host_key_policy: str) -> Path:
    inventory_dir = data_dir / "inventory"
    inventory_dir.mkdir(parents=True, exist_ok=True)
    # The same defaults as a hand-run `ansible-playbook -i inventory`.
    if (INVENTORY_DIR / "group_vars").is_dir():
        shutil.copytree(INVENTORY_DIR / "group_vars", inventory_dir / "group_vars", dirs_exist_ok=True)
    inventory = build_inventory(hosts, _ssh_common_args(known_hosts, host_key_policy))
    # Host values come from the database, typed by admins: unsafe like the extravars.
    (inventory_dir / "hosts.yml").write_text(dump_unsafe_yaml(inventory), encoding="utf-8")
    env_dir = data_dir / "env"
    env_dir.mkdir(mode=0o700, exist_ok=True)
    extravars_path = env_dir / "extravars"
    fd = os.open(extravars_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dump_unsafe_yaml(dict(extravars)))
    return inventory_dir


def run_playbook(
    playbook: str,
    hosts: Sequence[Host | Mapping[str, Any]],
    *,
    extravars: Mapping[str, Any] | None = None,
    private_key_path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    on_event: EventCallback | None = None,
    on_status: StatusCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    secrets: Iterable[str] = (),
    check: bool = False,
    limit: str | None = None,
    known_hosts: str | os.PathLike[str] | None = None,
    host_key_policy: str = "accept-new",
    controller_cache: str | os.PathLike[str] | None = None,
    project_dir: str | os.PathLike[str] | None = None,
    verbosity: int = 0,
    ident: str | None = None,
) -> JobResult:
    """Run ``playbook`` (a file name in playbooks/) against ``hosts`` and return its result.

    hosts: ``Host`` objects or dicts (``name``/``hostname``, ``address``/``management_address``,
        ``port``/``ssh_port``, ``user``/``ssh_user``, ``groups``, ``vars``).
    extravars: the playbook's inputs; every string reaches Ansible marked unsafe (no Jinja evaluated).
    private_key_path: SSH private key file; its content goes to runner's ssh-agent (``ssh_key``),
        never onto the command line or into the data directory.
    data_dir: the job's private data directory (created; a new temp dir when None). Keeps artifacts.
    timeout: seconds before the run is killed (status ``timeout``).
    on_event: called with every runner event, secrets redacted, in order, from the calling thread.
    on_status: called with runner's status changes (starting, running, successful, failed, ...).
    should_cancel: polled about twice a second; True kills the run (status ``canceled``).
    secrets: extra values to redact; values under secret-looking names (token, password, ...) in
        extravars are redacted anyway.
    check: run with --check (no change on the nodes).
    known_hosts / host_key_policy: the appliance's known_hosts file (default: one in data_dir) and
        ``accept-new`` (trust on first use) or ``strict``.
    controller_cache: where the controller keeps verified artifacts and the agent wheel.
    project_dir: directory holding the playbook (tests); roles always come from playbooks/roles.
    """
    if host_key_policy not in HOST_KEY_POLICIES:
        raise ValueError(f"host_key_policy must be one of {HOST_KEY_POLICIES}, not {host_key_policy!r}")
    project = Path(project_dir) if project_dir else PLAYBOOKS_DIR
    if "/" in playbook or not (project / playbook).is_file():
        raise ValueError(f"no playbook {playbook!r} in {project}")
    host_list = as_hosts(hosts)
    variables = dict(extravars or {})
    scrubber = Scrubber(secrets_in(variables, secrets))
    ssh_key = Path(private_key_path).read_text(encoding="utf-8") if private_key_path else None

    pdd = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="microdc-job-"))
    pdd.mkdir(parents=True, exist_ok=True)
    os.chmod(pdd, 0o700)
    known = Path(known_hosts) if known_hosts else pdd / "known_hosts"
    inventory_dir = _prepare(pdd, host_list, variables, known, host_key_policy)
    ident = ident or uuid.uuid4().hex
    # ssh's ControlPath must fit in a unix socket name (108 bytes); job dirs can be deep.
    control_dir = Path(tempfile.mkdtemp(prefix="mdc-cp-"))

    # ansible-playbook lives beside this Python (the appliance's venv), which need not be on PATH.
    bin_dir = str(Path(sys.executable).parent)
    envvars = {
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]),
        "ANSIBLE_ROLES_PATH": str(PLAYBOOKS_DIR / "roles"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=30s",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_LOCAL_TEMP": str(pdd / "tmp"),
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    if controller_cache:
        envvars["MICRODC_CONTROLLER_CACHE"] = str(controller_cache)
    cmdline = [*(["--check"] if check else []), *(["--limit", limit] if limit else [])]

    reported: dict[str, dict[str, Any]] = {}
    stats: dict[str, Any] = {}
    count = 0

    def handle_event(event: dict[str, Any]) -> bool:
        nonlocal count
        scrubber.inplace(event)
        data = event.get("event_data") or {}
        if event.get("event") == "playbook_on_stats":
            stats.update(data)
        elif event.get("event") == "runner_on_ok" and data.get("host"):
            facts = (data.get("res") or {}).get("ansible_facts") or {}
            picked = {k: v for k, v in facts.items() if k in REPORTED_FACTS}
            if picked:
                reported.setdefault(data["host"], {}).update(picked)
        count += 1
        if on_event is not None:
            on_event(event)
        return True  # runner keeps its (redacted) copy in artifacts/job_events

    def handle_status(data: dict[str, Any], runner_config: Any = None) -> None:
        if on_status is not None:
            on_status(str(data.get("status")))

    started = time.monotonic()
    try:
        import ansible_runner  # here: only the worker runs playbooks, and the web process need not load it

        runner = ansible_runner.run(
            private_data_dir=str(pdd),
            project_dir=str(project),
            playbook=playbook,
            inventory=str(inventory_dir),
            ssh_key=ssh_key,
            envvars=envvars,
            cmdline=shlex.join(cmdline) if cmdline else None,
            ident=ident,
            timeout=int(timeout) if timeout else None,
            settings={"pexpect_timeout": 0.5, "suppress_ansible_output": True},
            event_handler=handle_event,
            status_handler=handle_status,
            cancel_callback=should_cancel,
            quiet=True,
            verbosity=verbosity,
            suppress_env_files=True,
        )
    finally:
        # The extravars hold secrets (node tokens); the job keeps only what it needs for its record.
        (pdd / "env" / "extravars").unlink(missing_ok=True)
        shutil.rmtree(control_dir, ignore_errors=True)
    duration = time.monotonic() - started
    artifact_dir = Path(runner.config.artifact_dir)
    scrubber.file(str(artifact_dir / "stdout"))
    hosts_result = stats_to_hosts(stats)
    for host, facts in reported.items():
        hosts_result.setdefault(host, HostResult()).facts.update(facts)
    return JobResult(
        status=str(runner.status),
        rc=runner.rc,
        hosts=hosts_result,
        stdout_path=artifact_dir / "stdout",
        artifact_dir=artifact_dir,
        private_data_dir=pdd,
        event_count=count,
        duration_s=duration,
    )


class RunningJob:
    """A job running in a background thread: ``cancel()`` asks it to stop, ``wait()`` returns its
    result. The worker uses ``run_playbook`` directly; this is for callers that must stay responsive."""

    def __init__(self, playbook: str, hosts: Sequence[Host | Mapping[str, Any]], **kwargs: Any) -> None:
        self._cancel = threading.Event()
        outer = kwargs.pop("should_cancel", None)
        kwargs["should_cancel"] = lambda: self._cancel.is_set() or bool(outer and outer())
        self.result: JobResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(playbook, hosts, kwargs), daemon=True)
        self._thread.start()

    def _run(self, playbook: str, hosts: Sequence[Host | Mapping[str, Any]], kwargs: dict[str, Any]) -> None:
        try:
            self.result = run_playbook(playbook, hosts, **kwargs)
        except BaseException as exc:  # handed to wait()'s caller
            self.error = exc

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobResult:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("job still running")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def load_inventory(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read back a generated inventory (tests and debugging)."""

    class _Loader(yaml.SafeLoader):
        pass

    def construct_unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    _Loader.add_constructor("!unsafe", construct_unsafe)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass

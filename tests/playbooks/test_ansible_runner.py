"""The runner wrapper: events stream in order while the job runs, cancel and timeout stop it, secrets
are redacted, extravars reach Ansible untrusted but with their types, and inputs are checked."""

from __future__ import annotations

import threading
import time

import pytest
import yaml

from microdc.provisioning.runner import (
    REDACTED,
    EventBatcher,
    Host,
    RunningJob,
    dump_unsafe_yaml,
    load_inventory,
    run_playbook,
)
from microdc.provisioning.runner.hosts import as_hosts
from microdc.provisioning.runner.results import stats_to_hosts
from microdc.provisioning.runner.scrub import Scrubber, secrets_in
from tests.playbooks.ansible_helpers import DATA

pytestmark = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")


# --- pure units --------------------------------------------------------------------------------------

def test_extravars_yaml_is_one_unsafe_mapping_that_keeps_types():
    text = dump_unsafe_yaml({"sha": "0" * 64, "flag": "true", "none": "null", "n": 5, "args": ["8080", "{{ x }}"]})
    assert text.startswith("!unsafe\n")
    plain = yaml.safe_load(text.split("\n", 1)[1])
    assert plain == {"sha": "0" * 64, "flag": "true", "none": "null", "n": 5, "args": ["8080", "{{ x }}"]}


def test_extravars_refuse_objects_ansible_cannot_take():
    with pytest.raises(TypeError, match=r"extravars.env.when"):
        dump_unsafe_yaml({"env": {"when": object()}})
    with pytest.raises(TypeError, match="keys must be strings"):
        dump_unsafe_yaml({"env": {1: "x"}})


def test_hosts_are_validated_and_accept_registry_dicts():
    host = Host.from_mapping({"hostname": "gpu-01", "management_address": "10.0.0.11", "ssh_port": 2222,
                              "ssh_user": "ops"})
    assert (host.name, host.address, host.port, host.user) == ("gpu-01", "10.0.0.11", 2222, "ops")
    assert host.host_vars()["microdc_become"] is True
    for bad in ({"name": "a b", "address": "x"}, {"name": "n", "address": "x;rm"}, {"name": "n", "port": 0},
                {"name": "n", "user": "root;id"}, {"name": "n", "groups": ["bad-group"]}):
        with pytest.raises(ValueError):
            Host.from_mapping(bad)
    with pytest.raises(ValueError, match="listed twice"):
        as_hosts([{"name": "n"}, {"name": "n"}])
    with pytest.raises(ValueError, match="at least one host"):
        as_hosts([])


def test_secrets_are_found_by_name_and_redacted_everywhere():
    found = secrets_in({"microdc_agent_token": "tok-123456", "microdc_model_env": {"HF_TOKEN": "hf_abcdef",
                        "PLAIN": "visible-value"}, "port": 8000}, explicit=["explicit-secret"])
    assert set(found) == {"tok-123456", "hf_abcdef", "explicit-secret"}
    scrub = Scrubber(found)
    event = {"stdout": "token tok-123456", "event_data": {"res": {"msg": ["hf_abcdef", {"x": "explicit-secret"}]}}}
    scrub.inplace(event)
    assert event == {"stdout": f"token {REDACTED}", "event_data": {"res": {"msg": [REDACTED, {"x": REDACTED}]}}}


def test_stats_become_per_host_results():
    hosts = stats_to_hosts({"ok": {"a": 5}, "changed": {"a": 2}, "failures": {"b": 1}, "dark": {"c": 1},
                            "processed": {"a": 1, "b": 1, "c": 1, "d": 1}})
    assert (hosts["a"].ok, hosts["a"].changed, hosts["a"].succeeded) == (5, 2, True)
    assert hosts["b"].failed == 1 and not hosts["b"].succeeded
    assert hosts["c"].unreachable == 1 and hosts["d"].ok == 0


def test_event_batcher_flushes_by_count_age_and_close():
    batches: list[list[dict]] = []
    with EventBatcher(batches.append, max_events=3, max_delay=60) as batcher:
        for i in range(7):
            batcher({"counter": i})
        assert [len(b) for b in batches] == [3, 3]
    assert [len(b) for b in batches] == [3, 3, 1]
    aged: list[list[dict]] = []
    slow = EventBatcher(aged.append, max_events=100, max_delay=0.05)
    slow({"counter": 1})
    time.sleep(0.1)
    slow({"counter": 2})
    assert [len(b) for b in aged] == [2]


def test_unknown_playbook_is_refused():
    with pytest.raises(ValueError, match="no playbook"):
        run_playbook("../etc/passwd", [Host(name="n", address="127.0.0.1")])


# --- against the sshd node -----------------------------------------------------------------------------

@pytest.mark.integration
def test_events_stream_while_the_job_runs_and_cancel_stops_it(ssh_node):
    seen: list[dict] = []
    first_event = threading.Event()

    def on_event(event: dict) -> None:
        seen.append(event)
        if event.get("event") == "runner_on_start":
            first_event.set()

    statuses: list[str] = []
    job = RunningJob("slow.yml", [ssh_node.host()], extravars={"slow_seconds": 120}, project_dir=DATA,
                     private_key_path=ssh_node.key, known_hosts=ssh_node.known_hosts, on_event=on_event,
                     on_status=statuses.append)
    assert first_event.wait(60), "no task event arrived while the job ran"
    started = time.monotonic()
    job.cancel()
    result = job.wait(60)
    assert time.monotonic() - started < 15
    assert result.status == "canceled"
    assert statuses[:2] == ["starting", "running"] and statuses[-1] == "canceled"
    assert any(e.get("event") == "runner_on_ok" for e in seen)  # "Say hello" finished before the cancel
    assert result.stdout_path.exists()


@pytest.mark.integration
def test_timeout_stops_the_job(ssh_node):
    started = time.monotonic()
    result = ssh_node.run("slow.yml", {"slow_seconds": 120}, project_dir=DATA, timeout=5)
    assert result.status == "timeout"
    assert time.monotonic() - started < 30


@pytest.mark.integration
def test_job_data_dir_holds_inventory_and_no_secrets(ssh_node):
    secret = "s3cret-value-9981"
    events: list[dict] = []
    result = ssh_node.run("slow.yml", {"slow_seconds": 0, "some_password": secret}, project_dir=DATA,
                          on_event=events.append)
    assert result.status == "successful", result.stdout()[-2000:]
    assert result.hosts["node1"].ok == 2 and result.event_count == len(events)
    inventory = load_inventory(result.private_data_dir / "inventory" / "hosts.yml")
    node = inventory["all"]["hosts"]["node1"]
    assert (node["ansible_host"], node["ansible_port"], node["ansible_user"]) == ("127.0.0.1", ssh_node.port, "root")
    assert not (result.private_data_dir / "env" / "extravars").exists()
    assert secret not in result.stdout()
    leaked = [p for p in result.private_data_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []
    # The node's host key was pinned on first use.
    host_key = (ssh_node.key.parent / "host_key.pub").read_text().split()[1]
    assert host_key in ssh_node.known_hosts.read_text()


@pytest.mark.integration
def test_unreachable_host_is_reported(ssh_node):
    dead = Host(name="ghost", address="127.0.0.1", port=1, vars={"ansible_python_interpreter": "/usr/bin/python3"})
    result = run_playbook("slow.yml", [dead], extravars={"slow_seconds": 0}, project_dir=DATA,
                          private_key_path=ssh_node.key, known_hosts=ssh_node.known_hosts, timeout=120)
    assert result.status == "failed"
    assert result.hosts["ghost"].unreachable == 1

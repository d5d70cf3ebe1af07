"""Push to a real HTTP server on loopback: response handling, retry with the same batch_id, and backfill in
order after the appliance was away."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

from microdc.agent.agent import Agent
from microdc.agent.collectors.simulated import SimulatedCollector
from microdc.agent.config import AgentConfig
from microdc.agent.sample import iso_timestamp, new_batch
from microdc.agent.sender import Backoff, Outcome
from tests.support import free_port


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class RecordingCollector:
    """The simulated collector, remembering every time it was asked to collect (the ground truth)."""

    def __init__(self, node: str) -> None:
        self.inner = SimulatedCollector(gpus=2, seed=1, node=node)
        self.name, self.simulated, self.status = "simulated", True, "ok"
        self.times: list[float] = []

    def collect(self, now):
        self.times.append(now)
        return self.inner.collect(now)

    def close(self):
        pass


def agent_config(tmp_path, url: str, token: str, **overrides) -> AgentConfig:
    values = dict(url=url, token=token, node="sim-node-01", interval=0.03, batch_samples=2,
                  spool_path=str(tmp_path / "spool.sqlite3"), collectors=("simulated",), sim_gpus=2,
                  backoff_initial=0.02, backoff_max=0.2, http_timeout=2.0, shutdown_timeout=5.0)
    values.update(overrides)
    return AgentConfig(**values)


class RunningAgent:
    def __init__(self, config: AgentConfig) -> None:
        self.recorder = RecordingCollector(config.node)
        self.agent = Agent(config, collectors=[self.recorder])
        self.stop_event = threading.Event()
        self.thread = self.agent.start(self.stop_event)  # the in-process API the demo uses

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "agent did not stop"



# -- response handling -----------------------------------------------------------------------------------


def one_batch() -> str:
    return json.dumps(new_batch("sim-node-01", [{"ts": iso_timestamp(1.8e9), "devices": [], "sensors": []}]))


def test_2xx_is_sent_and_stored(telemetry_server, make_uploader):
    up = make_uploader(AgentConfig(url=telemetry_server.url, token=telemetry_server.token))
    payload = one_batch()
    result = up.post(payload)
    assert (result.outcome, result.status_code) == (Outcome.SENT, 202)
    assert list(telemetry_server.batches.values()) == [json.loads(payload)]
    assert up.post(payload).outcome is Outcome.SENT  # a resend is a duplicate, still done
    assert len(telemetry_server.batches) == 1


@pytest.mark.parametrize("status", [400, 413, 422])
def test_bad_batch_statuses_are_permanent_rejects(telemetry_server, status, make_uploader):
    telemetry_server.script = [status]
    result = make_uploader(AgentConfig(url=telemetry_server.url, token=telemetry_server.token)).post(one_batch())
    assert (result.outcome, result.status_code) == (Outcome.REJECTED, status)
    assert f"scripted {status}" in result.detail  # the appliance's detail reaches the log


@pytest.mark.parametrize("status", [403, 404, 429, 500, 502, 503])
def test_other_statuses_are_retried(telemetry_server, status, make_uploader):
    telemetry_server.script = [status]
    result = make_uploader(AgentConfig(url=telemetry_server.url, token=telemetry_server.token)).post(one_batch())
    assert (result.outcome, result.status_code) == (Outcome.RETRY, status)
    assert telemetry_server.batches == {}


def test_wrong_token_is_retried_and_named(telemetry_server, make_uploader):
    result = make_uploader(AgentConfig(url=telemetry_server.url, token="wrong")).post(one_batch())
    assert (result.outcome, result.status_code) == (Outcome.RETRY, 401)
    assert "node token refused" in result.detail and "wrong" not in result.detail


def test_retry_after_is_honoured_within_the_cap(telemetry_server, make_uploader):
    telemetry_server.script = [(429, {"Retry-After": "7"})]
    result = make_uploader(AgentConfig(url=telemetry_server.url, token=telemetry_server.token)).post(one_batch())
    assert result.retry_after == 7.0
    backoff = Backoff(initial=1.0, maximum=60.0, rand=lambda: 0.5)
    assert backoff.next_delay(result.retry_after) == 7.0
    assert Backoff(initial=1.0, maximum=5.0, rand=lambda: 0.5).next_delay(30.0) == 5.0


def test_connection_refused_is_retried(make_uploader):
    result = make_uploader(AgentConfig(url=f"http://127.0.0.1:{free_port()}", token="t")).post(one_batch())
    assert result.outcome is Outcome.RETRY and result.status_code is None
    assert "ConnectError" in result.detail


def test_url_may_name_the_endpoint_itself(telemetry_server, make_uploader):
    cfg = AgentConfig(url=telemetry_server.url + "/api/v1/telemetry/", token=telemetry_server.token)
    assert make_uploader(cfg).post(one_batch()).outcome is Outcome.SENT


def test_backoff_doubles_with_jitter_up_to_the_cap():
    backoff = Backoff(initial=1.0, maximum=60.0, rand=lambda: 0.5)  # jitter factor 1.0
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    backoff.reset()
    assert backoff.next_delay() == 1
    low, high = Backoff(10, 60, rand=lambda: 0.0), Backoff(10, 60, rand=lambda: 0.999999)
    assert low.next_delay() == pytest.approx(8.0) and high.next_delay() == pytest.approx(12.0)


# -- the agent loop --------------------------------------------------------------------------------------


def test_400_drops_the_batch_and_the_rest_go_on(tmp_path, telemetry_server, caplog):
    telemetry_server.script = [400]
    run = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token))
    wait_until(lambda: len(telemetry_server.order) >= 3, what="3 batches stored")
    run.stop()
    stats = run.agent.stats
    rejected_id = telemetry_server.attempts[0][0]
    assert telemetry_server.attempts[0][1] == 400 and rejected_id not in telemetry_server.batches
    assert stats.batches_rejected == 1
    assert stats.batches_sent == len(telemetry_server.batches) == stats.batches_spooled - 1
    assert f"appliance rejected batch {rejected_id} (HTTP 400" in caplog.text


def test_503_keeps_the_batch_and_resends_it_with_the_same_id(tmp_path, telemetry_server):
    telemetry_server.script = [503, 503]
    run = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token))
    wait_until(lambda: len(telemetry_server.order) >= 3, what="3 batches stored")
    run.stop()
    first_three = [bid for bid, _ in telemetry_server.attempts[:3]]
    assert [status for _, status in telemetry_server.attempts[:3]] == [503, 503, 202]
    assert len(set(first_three)) == 1, "the retried batch changed its batch_id"
    assert telemetry_server.order[0] == first_three[0]
    assert run.agent.stats.send_failures == 2 and run.agent.stats.batches_rejected == 0
    assert [s["ts"] for s in telemetry_server.samples()] == [iso_timestamp(t) for t in run.recorder.times]


def test_backfill_after_the_appliance_returns_stores_every_sample_once_in_order(tmp_path, telemetry_server):
    run = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token))
    wait_until(lambda: len(telemetry_server.order) >= 3, what="first batches stored")
    telemetry_server.stop()  # the appliance goes away; the agent keeps collecting into its spool
    collected_at_outage = len(run.recorder.times)
    wait_until(lambda: len(run.recorder.times) >= collected_at_outage + 20 and run.agent.stats.send_failures >= 2,
               what="collection during the outage")
    during_outage = len(telemetry_server.order)
    telemetry_server.start()  # same port
    wait_until(lambda: run.agent.stats.batches_sent == run.agent.stats.batches_spooled
               and len(telemetry_server.order) > during_outage + 5, what="backfill")
    run.stop()

    samples = telemetry_server.samples()
    expected_ts = [iso_timestamp(t) for t in run.recorder.times]
    assert [s["ts"] for s in samples] == expected_ts, "a sample was lost, duplicated or reordered"
    assert len(telemetry_server.order) == len(set(telemetry_server.order))
    stored_twice = [bid for bid, status in telemetry_server.attempts if status == 202]
    assert len(stored_twice) == len(set(stored_twice)), "a batch was accepted twice"
    # the energy counters read back in order: monotonic per GPU across the outage
    for index in range(2):
        energy = [s["devices"][index]["metrics"]["energy_joules"] for s in samples]
        assert energy == sorted(energy)
    stats = run.agent.stats
    assert stats.samples_collected == len(samples) and stats.batches_dropped == 0


def test_spool_is_backfilled_by_the_next_agent_run(tmp_path, telemetry_server):
    down_url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    first = RunningAgent(agent_config(tmp_path, down_url, telemetry_server.token, shutdown_timeout=0.5))
    wait_until(lambda: first.agent.stats.batches_spooled >= 4, what="spooled batches")
    first.stop()
    assert first.agent.stats.batches_sent == 0
    second = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token))
    wait_until(lambda: len(telemetry_server.order) >= first.agent.stats.batches_spooled + 2, what="backfill")
    second.stop()
    expected = [iso_timestamp(t) for t in first.recorder.times + second.recorder.times]
    assert [s["ts"] for s in telemetry_server.samples()] == expected


def test_full_spool_during_an_outage_loses_the_oldest(tmp_path, telemetry_server, caplog):
    telemetry_server.stop()
    run = RunningAgent(agent_config(tmp_path, telemetry_server.url, telemetry_server.token,
                                    batch_samples=1, spool_max_batches=5))
    wait_until(lambda: run.agent.stats.batches_dropped >= 3, what="spool overflow")
    telemetry_server.start()
    wait_until(lambda: run.agent.stats.batches_sent >= 8, what="sending after the outage")
    run.stop()
    stored = [s["ts"] for s in telemetry_server.samples()]
    collected = [iso_timestamp(t) for t in run.recorder.times]
    dropped = run.agent.stats.batches_dropped
    missing = len(collected) - len(stored)
    assert stored == collected[missing:], "the missing batches must be the oldest ones"
    # a batch dropped while its send was already in flight still arrives: missing can be one short
    assert dropped - 1 <= missing <= dropped and missing >= 2
    assert "spool full: dropped 1 oldest batches" in caplog.text

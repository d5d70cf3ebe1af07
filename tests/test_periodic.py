import threading

import pytest

from microdc.worker.periodic import Job, run_forever


@pytest.fixture
def kept_connection(monkeypatch):
    # The loop recycles database connections between jobs; here the connection holds the test's transaction.
    monkeypatch.setattr("microdc.worker.periodic.close_old_connections", lambda: None)


@pytest.mark.django_db  # jobs take their turns in the database
def test_jobs_run_on_their_interval_and_a_failure_does_not_stop_the_others(kept_connection):
    calls = {"ok": 0, "broken": 0, "rare": 0}
    stop = threading.Event()

    def count(name):
        calls[name] += 1
        if calls["ok"] >= 5 and calls["broken"] >= 5:
            stop.set()

    def broken():
        count("broken")
        raise RuntimeError("meter on fire")

    threading.Timer(10, stop.set).start()  # a bound, should the loop misbehave
    run_forever([Job("ok", 0.01, lambda: count("ok")), Job("broken", 0.01, broken),
                 Job("rare", 3600, lambda: count("rare"))], stop, tick=0.005)
    assert calls["ok"] >= 5 and calls["broken"] >= 5
    assert calls["rare"] == 1


@pytest.mark.django_db
def test_a_failed_job_records_its_error_on_its_turn(kept_connection):
    from microdc.core.models import JobTurn
    from microdc.worker.periodic import run_once

    def broken():
        raise RuntimeError("meter on fire")

    run_once(Job("broken", 60, broken))
    turn = JobTurn.objects.get(name="broken")
    assert turn.last_error == "RuntimeError: meter on fire" and turn.lease_until is None and turn.holder

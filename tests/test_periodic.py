import threading

import pytest

from microdc.worker.periodic import Job, run_forever


@pytest.mark.django_db  # the loop recycles database connections between jobs
def test_jobs_run_on_their_interval_and_a_failure_does_not_stop_the_others():
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

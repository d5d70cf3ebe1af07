"""Jobs on busy nodes wait, queued and saying for what, and start when the nodes free: FIFO per node, all
of a job's nodes at once (no deadlock on overlapping sets). Queued jobs no worker will run are recovered."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from microdc.nodes.models import Node
from microdc.provisioning import jobs
from microdc.provisioning.models import Job, NodeLock
from microdc.provisioning.tasks import run_job


@pytest.fixture
def nodes(rack):
    return [Node.objects.create(hostname=f"gpu-{i:02}", management_address=f"10.0.0.{10 + i}", rack=rack,
                                position_u=2 * i - 1, height_u=2) for i in (1, 2, 3)]


@pytest.fixture
def playbooks_succeed(monkeypatch):
    monkeypatch.setattr(jobs._Run, "playbook", lambda run, name, nodes, extravars, secrets=(): True)


def bootstrap(*nodes) -> Job:
    return jobs.create_job(Job.Kind.BOOTSTRAP, nodes, None)


def holder(node) -> int | None:
    lock = NodeLock.objects.filter(node=node).first()
    return lock.job_id if lock else None


def state(job: Job) -> tuple[str, str]:
    job.refresh_from_db()
    return job.status, job.summary


@pytest.mark.django_db
def test_a_job_on_a_busy_node_waits_and_starts_when_it_frees(nodes, playbooks_succeed,
                                                             django_capture_on_commit_callbacks):
    def tasks_for():
        return [result.args[0] for result in run_job.get_backend().results]

    with django_capture_on_commit_callbacks(execute=True):
        first = bootstrap(nodes[0])
        second = bootstrap(nodes[0])
    assert state(second) == ("queued", f"waiting for job {first.pk} on gpu-01")
    assert tasks_for() == [first.pk]  # no task until it has its node
    assert jobs.execute(second.pk).status == "queued"  # a stray task does not run it early
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.execute(first.pk).status == "succeeded"
    assert holder(nodes[0]) == second.pk and state(second) == ("queued", "")
    assert tasks_for() == [first.pk, second.pk]  # handed to the worker
    assert jobs.execute(second.pk).status == "succeeded" and not NodeLock.objects.exists()


@pytest.mark.django_db
def test_first_come_first_served_per_node_and_all_nodes_at_once(nodes, playbooks_succeed):
    a = bootstrap(nodes[0])
    b = bootstrap(nodes[0], nodes[1])  # waits for a on gpu-01; holds nothing meanwhile
    c = bootstrap(nodes[1])  # gpu-02 is free, but b asked first
    d = bootstrap(nodes[2])  # nobody else wants gpu-03
    assert state(b) == ("queued", f"waiting for job {a.pk} on gpu-01")
    assert state(c) == ("queued", f"waiting for job {b.pk} on gpu-02")
    assert holder(nodes[1]) is None and holder(nodes[2]) == d.pk
    jobs.execute(a.pk)
    assert holder(nodes[0]) == holder(nodes[1]) == b.pk
    assert state(c) == ("queued", f"waiting for job {b.pk} on gpu-02")
    jobs.execute(b.pk)
    assert holder(nodes[1]) == c.pk


@pytest.mark.django_db
def test_overlapping_waiters_never_hold_part_of_their_nodes(nodes, playbooks_succeed):
    a, b = bootstrap(nodes[0]), bootstrap(nodes[1])
    c = bootstrap(nodes[0], nodes[1])
    d = bootstrap(nodes[1], nodes[0])
    assert state(c) == ("queued", f"waiting for job {a.pk} on gpu-01, job {b.pk} on gpu-02")
    assert state(d) == ("queued", f"waiting for job {a.pk} on gpu-01, job {b.pk} on gpu-02")
    jobs.execute(a.pk)  # gpu-01 frees, but c still waits for gpu-02: it takes neither
    assert holder(nodes[0]) is None
    jobs.execute(b.pk)
    assert holder(nodes[0]) == holder(nodes[1]) == c.pk
    jobs.execute(c.pk)
    assert jobs.execute(d.pk).status == "succeeded" and not NodeLock.objects.exists()


@pytest.mark.django_db
def test_canceling_a_waiting_job_ends_it_and_lets_the_next_one_go(nodes, client_for, playbooks_succeed):
    a = bootstrap(nodes[0])
    b = bootstrap(nodes[0])
    c = bootstrap(nodes[0])
    assert client_for("operator").post(f"/api/v1/jobs/{b.pk}/cancel/").status_code == 202
    assert state(b) == ("canceled", "canceled while waiting for its nodes")
    assert state(c) == ("queued", f"waiting for job {a.pk} on gpu-01")
    jobs.execute(a.pk)
    assert holder(nodes[0]) == c.pk


@pytest.mark.django_db
def test_a_queued_job_whose_task_was_lost_is_recovered(nodes, settings, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        lost = bootstrap(nodes[0])
    waiting = bootstrap(nodes[0])
    later = timezone.now() + datetime.timedelta(seconds=settings.MICRODC_JOB_STALE_SECONDS + 1)
    assert jobs.recover_interrupted(now=later) == 0  # its task is there: a worker will take it
    DBTaskResult.objects.all().delete()  # the task row is gone (a restored database, a purge)
    assert jobs.recover_interrupted() == 0  # just enqueued: the task may not be written yet
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.recover_interrupted(now=later) == 1
    assert state(lost) == ("interrupted",
                           "interrupted: its worker task was lost before it started; its nodes were unlocked")
    assert holder(nodes[0]) == waiting.pk  # the next job got the node
    assert DBTaskResult.objects.filter(args_kwargs__args__0=waiting.pk).exists()


@pytest.mark.django_db
def test_a_queued_job_no_worker_takes_is_given_up_after_the_limit(nodes, settings):
    job = bootstrap(nodes[0])
    soon = timezone.now() + datetime.timedelta(seconds=settings.MICRODC_JOB_QUEUE_TIMEOUT_SECONDS - 60)
    assert jobs.recover_interrupted(now=soon) == 0
    later = timezone.now() + datetime.timedelta(seconds=settings.MICRODC_JOB_QUEUE_TIMEOUT_SECONDS + 1)
    assert jobs.recover_interrupted(now=later) == 1
    status, summary = state(job)
    assert status == "interrupted" and "no worker started it within" in summary
    assert not NodeLock.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_jobs_on_overlapping_nodes_neither_deadlock_nor_share_a_node(nodes):
    """Two threads (two database connections) create jobs on the same nodes in opposite orders at once."""
    barrier = threading.Barrier(2)
    errors = []

    def create(order):
        try:
            barrier.wait(timeout=10)
            for _ in range(10):
                bootstrap(*order)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers on its database lock; the row locks matter on PostgreSQL")
    threads = [threading.Thread(target=create, args=(o,)) for o in (nodes[:2], nodes[1::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    holders = {holder(n) for n in nodes[:2]}
    assert len(holders) == 1 and None not in holders  # exactly one job holds both; 19 wait, holding nothing
    assert Job.objects.filter(locks__isnull=True).count() == 19

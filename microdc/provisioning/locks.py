"""One job at a time per node, first come first served.

A job takes all of its nodes' locks at once or none (so two jobs wanting overlapping nodes never each hold
a part and wait for the other), after locking the node rows in primary-key order (so concurrent acquirers
on PostgreSQL queue up instead of deadlocking). A job that cannot have them all waits, queued, behind the
job holding each busy node and behind earlier jobs already waiting for it: FIFO per node.
"""

from django.db import IntegrityError, transaction

from microdc.nodes.models import Node

from .models import Job, NodeLock


def ahead_of(job: Job, nodes) -> dict[str, int]:
    """hostname -> id of the job ahead of `job` on that node: the one holding it, else the earliest job
    queued before `job` that waits for it. Empty: `job` may take all its nodes now."""
    node_ids = [n.pk for n in nodes]
    ahead: dict[int, int] = {}
    for lock in NodeLock.objects.filter(node_id__in=node_ids).exclude(job=job):
        ahead[lock.node_id] = lock.job_id
    waiting = (Job.nodes.through.objects
               .filter(node_id__in=node_ids, job__status=Job.Status.QUEUED, job__pk__lt=job.pk,
                       job__locks__isnull=True)
               .order_by("job_id").values_list("node_id", "job_id"))
    for node_id, job_id in waiting:
        ahead.setdefault(node_id, job_id)
    names = dict(Node.objects.filter(pk__in=ahead).values_list("pk", "hostname"))
    return {names[node_id]: job_id for node_id, job_id in sorted(ahead.items(), key=lambda i: names[i[0]])}


def acquire(job: Job, nodes) -> bool:
    """Take all of `nodes` for `job`, or none; True when the job holds them all."""
    nodes = list(nodes)
    with transaction.atomic():
        # Fixed order, all at once: concurrent acquirers of overlapping nodes serialise here.
        list(Node.objects.select_for_update().filter(pk__in=[n.pk for n in nodes]).order_by("pk")
             .values_list("pk", flat=True))
        if ahead_of(job, nodes):
            return False
        held = set(NodeLock.objects.filter(job=job).values_list("node_id", flat=True))
        try:
            with transaction.atomic():
                NodeLock.objects.bulk_create([NodeLock(node=node, job=job) for node in nodes if node.pk not in held])
        except IntegrityError:  # a writer that took no row locks got there first: wait behind it
            return False
    return True


def holds_its_nodes(job: Job) -> bool:
    return job.locks.count() == job.nodes.count()


def release(job: Job) -> None:
    NodeLock.objects.filter(job=job).delete()


def describe_wait(ahead: dict[str, int]) -> str:
    return "waiting for " + ", ".join(f"job {job_id} on {host}" for host, job_id in ahead.items())

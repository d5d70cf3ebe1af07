"""One job at a time per node."""

from django.db import IntegrityError, transaction

from .models import Job, NodeLock


class NodesBusy(Exception):
    pass


def busy_nodes(nodes) -> dict[str, int]:
    """hostname -> job id, for the given nodes that a job holds now."""
    return {lock.node.hostname: lock.job_id for lock in NodeLock.objects.filter(node__in=nodes).select_related("node")}


def acquire(job: Job, nodes) -> None:
    try:
        with transaction.atomic():
            NodeLock.objects.bulk_create([NodeLock(node=node, job=job) for node in nodes])
    except IntegrityError:
        held = busy_nodes(nodes)
        raise NodesBusy(", ".join(f"{host} is busy with job {job_id}" for host, job_id in held.items())
                        or "a node is busy with another job") from None


def release(job: Job) -> None:
    NodeLock.objects.filter(job=job).delete()

"""Jobs: create them (with node locks), run them in the worker through ansible-runner, recover them.

A deployment rolls out canary-first: the first node, whose role ends with a health check, then the rest in
batches. Any failure stops the rollout and puts the touched nodes back on the previous revision (or removes
the model server where there was none).
"""

import datetime
import logging
import os
import socket
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from microdc.core.identity import worker_id
from microdc.nodes import agent_tokens
from microdc.nodes.models import Node

from . import artifacts, locks
from .events import publish_status, store_events
from .models import Deployment, DeploymentRevision, Job
from .runner import EventBatcher, Host, run_playbook
from .ssh_keys import ensure_keypair

log = logging.getLogger(__name__)


# --- creating jobs (API side) -------------------------------------------------------------------------------

def _enqueue(job: Job) -> None:
    from .tasks import run_job

    transaction.on_commit(lambda: run_job.enqueue(job.pk))


def _take_nodes_or_wait(job: Job) -> bool:
    """Give the job its nodes and hand it to the worker after commit, or leave it queued saying what it
    waits for (it starts when start_waiting gives it the nodes)."""
    nodes = list(job.nodes.all())
    if locks.acquire(job, nodes):
        Job.objects.filter(pk=job.pk).update(summary="")
        _enqueue(job)
        return True
    waiting = locks.describe_wait(locks.ahead_of(job, nodes))
    Job.objects.filter(pk=job.pk).exclude(summary=waiting).update(summary=waiting)
    return False


def create_job(kind: str, nodes, user, deployment=None, revision=None) -> Job:
    """Create a queued job: it runs once it holds all its nodes, now or behind the jobs ahead of it there."""
    with transaction.atomic():
        job = Job.objects.create(kind=kind, deployment=deployment, revision=revision, created_by=user)
        job.nodes.set(list(nodes))
        _take_nodes_or_wait(job)
    job.refresh_from_db()
    return job


def start_waiting() -> list[int]:
    """Give freed nodes to the queued jobs waiting for them, oldest first; the ids of the jobs started."""
    started = []
    waiting = Job.objects.filter(status=Job.Status.QUEUED, locks__isnull=True).order_by("pk")
    for pk in waiting.values_list("pk", flat=True):
        with transaction.atomic():
            # Checked again under the job's row lock: it may have been canceled, or started by another
            # process running this at the same time, since the list was read.
            job = Job.objects.select_for_update().filter(pk=pk, status=Job.Status.QUEUED).first()
            if job is not None and not job.locks.exists() and _take_nodes_or_wait(job):
                started.append(pk)
    return started


def request_cancel(job: Job) -> None:
    # A job still waiting for its nodes holds nothing and has no task: it ends now.
    with transaction.atomic():
        waiting = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, locks__isnull=True).values("pk")
        if Job.objects.filter(pk__in=waiting).update(status=Job.Status.CANCELED, cancel_requested=True,
                                                     finished=timezone.now(),
                                                     summary="canceled while waiting for its nodes"):
            _end_deployment(job.deployment_id)
            job.refresh_from_db()
            publish_status(job)
            start_waiting()
            return
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(cancel_requested=True)


def _end_deployment(deployment_id: int | None) -> None:
    """A deployment whose job ended without finishing it leaves its in-between state."""
    if deployment_id:
        Deployment.objects.filter(pk=deployment_id, status__in=[
            Deployment.Status.PENDING, Deployment.Status.DEPLOYING, Deployment.Status.REMOVING]).update(
            status=Deployment.Status.FAILED)


# --- running jobs (worker side) -----------------------------------------------------------------------------

def hosts_for(nodes) -> list[Host]:
    return [Host(name=n.hostname, address=n.management_address, user=n.ssh_user, port=n.ssh_port) for n in nodes]


class _Run:
    """The state of one running job: cancel polling, heartbeat, the log of what happened."""

    def __init__(self, job: Job):
        self.job = job
        self.lines: list[str] = []
        self.stdout: list[str] = []
        self.hosts: dict = {}
        self.facts: dict[str, dict] = {}
        self._checked = 0.0
        self._cancel = False

    def say(self, line: str) -> None:
        log.info("job %s: %s", self.job.pk, line)
        self.lines.append(line)

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            Job.objects.filter(pk=self.job.pk).update(heartbeat=timezone.now())
            self._cancel = Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()
        return self._cancel

    def playbook(self, name: str, nodes, extravars: dict, secrets=()) -> bool:
        private_key, _ = ensure_keypair()
        data_dir = Path(settings.DATA_DIR) / "jobs" / str(self.job.pk) / f"{len(self.stdout)}-{name.split('.')[0]}"
        # Site-wide variables (MICRODC_ANSIBLE_EXTRA_VARS: wheelhouse, become, paths) under the job's own.
        extravars = dict(settings.MICRODC_ANSIBLE_EXTRA_VARS) | extravars
        with EventBatcher(lambda events: store_events(self.job, events)) as batcher:
            result = run_playbook(name, hosts_for(nodes), extravars=extravars, private_key_path=private_key,
                                  data_dir=data_dir, timeout=settings.MICRODC_JOB_TIMEOUT_SECONDS,
                                  on_event=batcher, should_cancel=self.should_cancel, secrets=secrets,
                                  known_hosts=Path(settings.DATA_DIR) / "ssh" / "known_hosts",
                                  controller_cache=Path(settings.DATA_DIR) / "controller-cache",
                                  ident=f"job-{self.job.pk}-{len(self.stdout)}")
        self.stdout.append(result.stdout())
        for host, outcome in result.hosts.items():
            self.hosts[host] = {"ok": outcome.ok, "changed": outcome.changed, "failed": outcome.failed,
                                "unreachable": outcome.unreachable, "skipped": outcome.skipped,
                                "status": result.status}
            self.facts[host] = outcome.facts
        self.say(f"{name} on {', '.join(n.hostname for n in nodes)}: {result.status}")
        return result.succeeded


def _deploy_vars(revision: DeploymentRevision, artifact: Path) -> dict:
    return {"microdc_runtime": revision.deployment.runtime, "microdc_model_state": "present",
            "microdc_model_name": revision.deployment.name, "microdc_model_revision": str(revision.number),
            "microdc_model_artifact": str(artifact), "microdc_model_artifact_sha256": revision.artifact_sha256,
            "microdc_model_port": revision.port, "microdc_model_args": list(revision.args),
            "microdc_model_env": dict(revision.env), "microdc_model_accelerators": list(revision.accelerators)}


def _verified(revision: DeploymentRevision, tick: artifacts.Tick | None = None) -> Path:
    key = revision.signing_key.public_key if revision.signing_key else None
    return artifacts.verify(revision.artifact, revision.artifact_sha256, revision.artifact_signature, key, tick)


def _batches(nodes: list[Node], size: int) -> list[list[Node]]:
    return [nodes[:1]] + [nodes[i:i + size] for i in range(1, len(nodes), size)] if nodes else []


def _deploy(run: _Run, job: Job) -> bool:
    revision = job.revision
    deployment = revision.deployment
    previous = deployment.current_revision if deployment.current_revision_id != revision.pk else None
    try:
        # The run's cancel poll beats the heartbeat through a long download or hash.
        artifact = _verified(revision, run.should_cancel)
    except artifacts.ArtifactError as exc:
        run.say(f"stopped before touching any node: {exc}")
        Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.FAILED)
        return False
    run.say(f"artifact verified (sha256 {revision.artifact_sha256[:12]}..."
            f"{', signature ok' if revision.artifact_signature else ''})")
    Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.DEPLOYING)
    nodes = list(revision.nodes.order_by("hostname"))
    touched: list[Node] = []
    secrets = [v for v in revision.env.values() if isinstance(v, str) and len(v) >= 6]
    try:
        for number, batch in enumerate(_batches(nodes, settings.MICRODC_ROLLOUT_BATCH_SIZE)):
            touched += batch  # before the run: a run that breaks off leaves its nodes in an unknown state
            run.say(("canary " if number == 0 else f"batch {number}: ") + ", ".join(n.hostname for n in batch))
            if not run.playbook("deploy_model_server.yml", batch, _deploy_vars(revision, artifact), secrets):
                return _roll_back(run, deployment, revision, previous, touched)
        # Nodes the previous revision ran on and this one does not: the model server goes from there.
        dropped = [n for n in (previous.nodes.all() if previous else []) if n not in nodes]
        left_behind = []
        if dropped:
            touched += dropped
            if not run.playbook("remove_model_server.yml", dropped, {"microdc_model_name": deployment.name}):
                left_behind = [n.hostname for n in dropped]
        # The roles report where each server answers (and its metrics); later work scrapes request counts there.
        endpoints = [{"node": n.hostname, "state": "healthy",
                      "url": run.facts.get(n.hostname, {}).get("microdc_model_endpoint",
                                                               f"http://{n.management_address}:{revision.port}"),
                      "metrics_url": run.facts.get(n.hostname, {}).get("microdc_model_metrics_url", "")}
                     for n in nodes]
        # The new revision serves; the nodes it left may still run the old server: someone should look.
        endpoints += [{"node": name, "state": "needs_attention", "reason": "removing the dropped server failed",
                       "url": "", "metrics_url": ""} for name in left_behind]
        for name in left_behind:
            run.hosts.setdefault(name, {})["needs_attention"] = "removing the dropped server failed"
        Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.HEALTHY,
                                                           current_revision=revision, endpoints=endpoints)
    except Exception as exc:
        # Whatever broke (the runner, the database, a bug), the rollout ends here like a failed batch.
        log.exception("job %s: rollout of %s r%s broke off", job.pk, deployment.name, revision.number)
        run.say(f"r{revision.number} stopped by an error: {type(exc).__name__}: {exc}")
        return _roll_back(run, deployment, revision, previous, touched)
    run.say(f"r{revision.number} healthy on {len(nodes)} node(s)")
    return True


def _needs_attention(run: _Run, deployment: Deployment, nodes, reason: str) -> None:
    """Nodes left in a state nobody knows: say so on the job (per host) and on the deployment (per node)."""
    names = [n.hostname for n in nodes]
    for name in names:
        run.hosts.setdefault(name, {})["needs_attention"] = reason
    endpoints = [e for e in Deployment.objects.get(pk=deployment.pk).endpoints if e.get("node") not in names]
    endpoints += [{"node": name, "state": "needs_attention", "reason": reason, "url": "", "metrics_url": ""}
                  for name in names]
    Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.FAILED, endpoints=endpoints)
    if names:
        run.say(f"NEEDS ATTENTION: {', '.join(names)}: {reason}")


def _roll_back(run: _Run, deployment, revision, previous, touched) -> bool:
    """Put the touched nodes back on the previous revision (or remove the new one); nodes that cannot be
    put back are marked as needing attention. Always leaves the deployment out of `deploying`; False."""
    if run.should_cancel():
        _needs_attention(run, deployment, touched, f"canceled during the rollout of r{revision.number}; "
                                                   "left as the rollout had them")
        return False
    try:
        if previous is None:
            run.say(f"r{revision.number} failed; removing it from {', '.join(n.hostname for n in touched)}")
            if run.playbook("remove_model_server.yml", touched, {"microdc_model_name": deployment.name}):
                Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.FAILED, endpoints=[])
            else:
                _needs_attention(run, deployment, touched, f"removing the failed r{revision.number} failed")
            return False
        back = [n for n in touched if previous.nodes.filter(pk=n.pk).exists()]
        gone = [n for n in touched if n not in back]
        run.say(f"r{revision.number} failed; rolling {', '.join(n.hostname for n in touched)} back "
                f"to r{previous.number}")
        try:
            previous_artifact = _verified(previous, run.should_cancel) if back else None
        except artifacts.ArtifactError as exc:
            _needs_attention(run, deployment, back, f"rollback target r{previous.number} unavailable: {exc}")
            back = []
        failed = []
        if back and not run.playbook("deploy_model_server.yml", back, _deploy_vars(previous, previous_artifact)):
            failed += back
        if gone and not run.playbook("remove_model_server.yml", gone, {"microdc_model_name": deployment.name}):
            failed += gone
        if failed:
            _needs_attention(run, deployment, failed, f"rollback to r{previous.number} failed")
        elif Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.DEPLOYING).update(
                status=Deployment.Status.ROLLED_BACK, current_revision=previous):
            run.say(f"rollback to r{previous.number} done")
    except Exception as exc:
        log.exception("job %s: rollback of %s broke off", run.job.pk, deployment.name)
        _needs_attention(run, deployment, touched, f"rollback stopped by an error: {type(exc).__name__}: {exc}")
    return False


def _remove(run: _Run, job: Job) -> bool:
    deployment = job.deployment
    nodes = list(job.nodes.all())
    try:
        ok = run.playbook("remove_model_server.yml", nodes, {"microdc_model_name": deployment.name})
    except Exception as exc:
        log.exception("job %s: removing %s broke off", job.pk, deployment.name)
        _needs_attention(run, deployment, nodes, f"removal stopped by an error: {type(exc).__name__}: {exc}")
        return False
    if not ok:
        _needs_attention(run, deployment, nodes, "removal failed")
        return False
    Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.REMOVED, endpoints=[])
    return True


def _bootstrap(run: _Run, job: Job) -> bool:
    """Install the agent with a new token; the node's old token stays valid until the new one is installed
    (the playbook succeeded, or the agent already authenticated with it), so a failed bootstrap locks no
    working agent out."""
    ok = True
    for node in job.nodes.all():
        token = agent_tokens.issue_pending_agent_token(node)
        installed = False
        try:
            extravars = {"microdc_agent_url": settings.MICRODC_PUBLIC_URL, "microdc_agent_token": token}
            installed = run.playbook("bootstrap_node.yml", [node], extravars, secrets=[token])
        finally:
            if installed:
                agent_tokens.promote_pending(node, token)
            else:
                agent_tokens.drop_pending(node, token)
                run.say(f"{node.hostname}: bootstrap failed; the node keeps its previous agent token")
        ok = installed and ok
    return ok


STEPS = {Job.Kind.DEPLOY: _deploy, Job.Kind.REMOVE: _remove, Job.Kind.BOOTSTRAP: _bootstrap}


def execute(job_id: int) -> Job:
    """Run a queued job that holds its nodes to its end (called by the worker)."""
    job = Job.objects.get(pk=job_id)
    if not locks.holds_its_nodes(job):
        return job  # still waiting for its nodes (a stray task): start_waiting hands it over later
    updated = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started=timezone.now(), heartbeat=timezone.now(), worker=worker_id())
    job = Job.objects.select_related("deployment", "revision__deployment__current_revision").get(pk=job_id)
    if not updated:
        return job  # canceled while queued, or another worker has it
    publish_status(job)
    run = _Run(job)
    try:
        if job.cancel_requested:
            ok = False
            run.say("canceled before it started")
        else:
            ok = STEPS[job.kind](run, job)
        status = Job.Status.SUCCEEDED if ok else (Job.Status.CANCELED if run.should_cancel() else Job.Status.FAILED)
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        run.say(f"internal error: {type(exc).__name__}: {exc}")
        status = Job.Status.FAILED
    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(status=status, finished=timezone.now(), summary="\n".join(run.lines),
                                             host_results=run.hosts, stdout="\n".join(run.stdout))
        if status != Job.Status.SUCCEEDED:
            _end_deployment(job.deployment_id)
        locks.release(job)
        job.refresh_from_db()
        publish_status(job)
    start_waiting()
    return job


def _worker_gone(worker: str) -> bool:
    """True when the worker ran on this host and its process no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _stuck_running(now: datetime.datetime) -> dict[int, str]:
    stale_after = datetime.timedelta(seconds=settings.MICRODC_JOB_STALE_SECONDS)
    return {job.pk: f"interrupted: the worker running it ({job.worker or 'unknown'}) stopped"
            for job in Job.objects.filter(status=Job.Status.RUNNING)
            if (job.heartbeat and job.heartbeat < now - stale_after) or (job.worker and _worker_gone(job.worker))}


def _stuck_queued(now: datetime.datetime) -> dict[int, str]:
    """Queued jobs holding nodes that no worker will run: their task is gone or ended without running them,
    or no worker took them within MICRODC_JOB_QUEUE_TIMEOUT_SECONDS."""
    from .tasks import task_outstanding

    limit = datetime.timedelta(seconds=settings.MICRODC_JOB_QUEUE_TIMEOUT_SECONDS)
    stuck = {}
    for job in Job.objects.filter(status=Job.Status.QUEUED, locks__isnull=False).distinct():
        taken = job.locks.order_by("taken").values_list("taken", flat=True).first()
        outstanding = task_outstanding(job.pk)
        if outstanding is False and taken < now - datetime.timedelta(seconds=settings.MICRODC_JOB_STALE_SECONDS):
            stuck[job.pk] = "interrupted: its worker task was lost before it started"
        elif taken < now - limit:
            stuck[job.pk] = (f"interrupted: no worker started it within {settings.MICRODC_JOB_QUEUE_TIMEOUT_SECONDS} s"
                             " (is the worker running?)")
    return stuck


def recover_interrupted(now: datetime.datetime | None = None) -> int:
    """Jobs no worker will finish become "interrupted" and free their nodes: running ones whose worker died
    (at once when it was on this host and its process is gone, else when its heartbeat has been silent too
    long), and queued ones whose task was lost or that no worker took in time. Jobs waiting for those nodes
    then start."""
    now = now or timezone.now()
    count = 0
    for state, stuck in ((Job.Status.RUNNING, _stuck_running(now)), (Job.Status.QUEUED, _stuck_queued(now))):
        for job in Job.objects.filter(pk__in=stuck):
            with transaction.atomic():
                if Job.objects.filter(pk=job.pk, status=state).update(
                        status=Job.Status.INTERRUPTED, finished=now,
                        summary=(job.summary + "\n" if job.summary else "") + stuck[job.pk] +
                        "; its nodes were unlocked"):
                    log.warning("job %s %s", job.pk, stuck[job.pk])
                    locks.release(job)
                    _end_deployment(job.deployment_id)
                    count += 1
    start_waiting()
    return count

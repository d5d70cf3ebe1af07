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

from microdc.nodes import agent_tokens
from microdc.nodes.models import Node

from . import artifacts, locks
from .events import publish_status, store_events
from .models import Deployment, DeploymentRevision, Job
from .runner import EventBatcher, Host, run_playbook
from .ssh_keys import ensure_keypair

log = logging.getLogger(__name__)


class JobRefused(Exception):
    pass


# --- creating jobs (API side) -------------------------------------------------------------------------------

def _enqueue(job: Job) -> None:
    from .tasks import run_job

    transaction.on_commit(lambda: run_job.enqueue(job.pk))


def create_job(kind: str, nodes, user, deployment=None, revision=None) -> Job:
    """Create a queued job holding its nodes' locks, and hand it to the worker after commit."""
    nodes = list(nodes)
    with transaction.atomic():
        job = Job.objects.create(kind=kind, deployment=deployment, revision=revision, created_by=user)
        job.nodes.set(nodes)
        try:
            locks.acquire(job, nodes)
        except locks.NodesBusy as exc:
            raise JobRefused(str(exc)) from exc
        _enqueue(job)
    return job


def request_cancel(job: Job) -> None:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(cancel_requested=True)


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


def _verified(revision: DeploymentRevision) -> Path:
    key = revision.signing_key.public_key if revision.signing_key else None
    return artifacts.verify(revision.artifact, revision.artifact_sha256, revision.artifact_signature, key)


def _batches(nodes: list[Node], size: int) -> list[list[Node]]:
    return [nodes[:1]] + [nodes[i:i + size] for i in range(1, len(nodes), size)] if nodes else []


def _deploy(run: _Run, job: Job) -> bool:
    revision = job.revision
    deployment = revision.deployment
    previous = deployment.current_revision if deployment.current_revision_id != revision.pk else None
    try:
        artifact = _verified(revision)
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
    for number, batch in enumerate(_batches(nodes, settings.MICRODC_ROLLOUT_BATCH_SIZE)):
        touched += batch
        run.say(("canary " if number == 0 else f"batch {number}: ") + ", ".join(n.hostname for n in batch))
        if not run.playbook("deploy_model_server.yml", batch, _deploy_vars(revision, artifact), secrets):
            _roll_back(run, deployment, revision, previous, touched)
            return False
    # Nodes the previous revision ran on and this one does not: the model server goes from there.
    dropped = [n for n in (previous.nodes.all() if previous else []) if n not in nodes]
    if dropped:
        run.playbook("remove_model_server.yml", dropped, {"microdc_model_name": deployment.name})
    # The roles report where each server answers (and its metrics); later work scrapes request counts there.
    endpoints = [{"node": n.hostname,
                  "url": run.facts.get(n.hostname, {}).get("microdc_model_endpoint",
                                                           f"http://{n.management_address}:{revision.port}"),
                  "metrics_url": run.facts.get(n.hostname, {}).get("microdc_model_metrics_url", "")}
                 for n in nodes]
    Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.HEALTHY, current_revision=revision,
                                                       endpoints=endpoints)
    run.say(f"r{revision.number} healthy on {len(nodes)} node(s)")
    return True


def _roll_back(run: _Run, deployment, revision, previous, touched) -> None:
    if run.should_cancel():
        run.say("canceled: the touched nodes are left as they are")
        return
    if previous is None:
        run.say(f"r{revision.number} failed; removing it from {', '.join(n.hostname for n in touched)}")
        run.playbook("remove_model_server.yml", touched, {"microdc_model_name": deployment.name})
        Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.FAILED)
        return
    back = [n for n in touched if previous.nodes.filter(pk=n.pk).exists()]
    gone = [n for n in touched if n not in back]
    run.say(f"r{revision.number} failed; rolling {', '.join(n.hostname for n in touched)} back to r{previous.number}")
    ok = True
    if back:
        ok = run.playbook("deploy_model_server.yml", back, _deploy_vars(previous, _verified(previous)))
    if gone:
        ok = run.playbook("remove_model_server.yml", gone, {"microdc_model_name": deployment.name}) and ok
    status = Deployment.Status.ROLLED_BACK if ok else Deployment.Status.FAILED
    Deployment.objects.filter(pk=deployment.pk).update(status=status, current_revision=previous)
    run.say(f"rollback to r{previous.number} {'done' if ok else 'FAILED'}")


def _remove(run: _Run, job: Job) -> bool:
    deployment = job.deployment
    ok = run.playbook("remove_model_server.yml", list(job.nodes.all()), {"microdc_model_name": deployment.name})
    Deployment.objects.filter(pk=deployment.pk).update(
        status=Deployment.Status.REMOVED if ok else Deployment.Status.FAILED, endpoints=[])
    return ok


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
    """Run a queued job to its end (called by the worker)."""
    updated = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started=timezone.now(), heartbeat=timezone.now(), worker=worker_identity())
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
        locks.release(job)
        job.refresh_from_db()
        publish_status(job)
    return job


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def recover_interrupted(now: datetime.datetime | None = None) -> int:
    """Jobs whose worker died mid-run become "interrupted" and free their nodes: at once when the worker was
    on this host and its process is gone, else when its heartbeat has been silent too long (power cut,
    another host)."""
    now = now or timezone.now()
    stale_after = datetime.timedelta(seconds=settings.MICRODC_JOB_STALE_SECONDS)
    running = Job.objects.filter(status=Job.Status.RUNNING)
    stale = [job for job in running if (job.heartbeat and job.heartbeat < now - stale_after)
             or (job.worker and _worker_gone(job.worker))]
    count = 0
    for job in stale:
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
                    status=Job.Status.INTERRUPTED, finished=now,
                    summary=(job.summary + "\n" if job.summary else "") +
                    f"interrupted: the worker running it ({job.worker or 'unknown'}) stopped; "
                    "its nodes were unlocked"):
                locks.release(job)
                if job.deployment_id:
                    Deployment.objects.filter(pk=job.deployment_id, status=Deployment.Status.DEPLOYING).update(
                        status=Deployment.Status.FAILED)
                count += 1
    return count

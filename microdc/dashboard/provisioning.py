"""Jobs, job events and model servers from the provisioning app, when it has them.

The only place the dashboard touches provisioning. Models are looked up by name in the ``provisioning`` app;
while they do not exist the Jobs page says provisioning is not installed and the node page leaves out its
model-server section. Fields read (optional ones are used when present):

- ``Job``: ``kind``, ``status``, ``created``; optional ``nodes`` (many-to-many) or ``node``, ``deployment``,
  ``started``, ``finished``, ``summary``.
- ``JobEvent``: ``job``, ``counter``, ``event``, ``host``, ``stdout``, ``created``.
- ``Deployment``: ``name``, ``runtime``, ``status``; on a node through ``current_revision.nodes`` (or a ``node``
  foreign key), port from the revision, endpoints per node.

Live job output arrives on the ``job.<id>`` group as ``{"type": "live.update", "group": "job.<id>", "data":
{"events": [{"counter", "event", "host", "stdout", "created"}], "status": str}}``, sent by the provisioning
app after commit; ``new_job_events`` lets the dashboard catch up from the database as well (see watches.py),
which is what carries the output when the job runs in the worker and the in-memory layer cannot.
"""

from django.apps import apps
from django.db import models
from django.db.models import Max

from microdc.provisioning.masking import mask_summary

from .selectors import iso

MAX_EVENTS = 5000


def model(name: str) -> type[models.Model] | None:
    try:
        return apps.get_model("provisioning", name)
    except LookupError:
        return None


def _has_field(model_class: type[models.Model], name: str) -> bool:
    try:
        model_class._meta.get_field(name)
    except Exception:
        return False
    return True


def _label(obj, *names: str) -> str:
    for name in names:
        value = getattr(obj, name, None)
        if value not in (None, ""):
            return str(value)
    return ""


def _nodes_text(job) -> str:
    if _has_field(type(job), "nodes"):
        return ", ".join(n.hostname for n in job.nodes.all())
    return _label(job, "node")


def job_view(job) -> dict:
    return {
        "id": job.pk,
        "title": str(job),
        "kind": _label(job, "kind", "playbook", "action"),
        "status": _label(job, "status") or "unknown",
        "node": _nodes_text(job),
        "deployment": _label(job, "deployment"),
        "summary": mask_summary(job) if _has_field(type(job), "summary") else "",
        "created": iso(getattr(job, "started", None) or getattr(job, "created", None)),
        "finished": iso(getattr(job, "finished", None)),
    }


def _jobs_queryset(job_model):
    queryset = job_model.objects.all()
    if _has_field(job_model, "nodes"):
        queryset = queryset.prefetch_related("nodes")
    elif _has_field(job_model, "node"):
        queryset = queryset.select_related("node")
    if _has_field(job_model, "deployment"):
        # The deployment's revisions are what a summary is masked against.
        queryset = queryset.select_related("deployment").prefetch_related("deployment__revisions")
    return queryset


def jobs(limit: int = 100) -> list[dict] | None:
    """The latest jobs, newest first; None when provisioning has no Job model yet."""
    job_model = model("Job")
    if job_model is None:
        return None
    order = "-created" if _has_field(job_model, "created") else "-pk"
    return [job_view(job) for job in _jobs_queryset(job_model).order_by(order, "-pk")[:limit]]


def job(pk: int) -> dict | None:
    """One job; None when there is no such job (or no Job model)."""
    job_model = model("Job")
    if job_model is None:
        return None
    obj = _jobs_queryset(job_model).filter(pk=pk).first()
    return job_view(obj) if obj is not None else None


def event_view(event) -> dict:
    return {"counter": event.counter, "event": event.event or "", "host": event.host or None,
            "stdout": event.stdout or "", "created": iso(event.created)}


def new_job_events(pk: int, after: int = 0, limit: int = MAX_EVENTS) -> list[dict] | None:
    """Events of job `pk` with a counter above `after`, in order; None when there is no JobEvent model."""
    event_model = model("JobEvent")
    if event_model is None:
        return None
    rows = event_model.objects.filter(job_id=pk, counter__gt=after).order_by("counter")[:limit]
    return [event_view(e) for e in rows]


def last_event_counter(pk: int) -> int:
    event_model = model("JobEvent")
    if event_model is None:
        return 0
    return event_model.objects.filter(job_id=pk).aggregate(last=Max("counter"))["last"] or 0


def job_status(pk: int) -> str | None:
    job_model = model("Job")
    if job_model is None:
        return None
    return job_model.objects.filter(pk=pk).values_list("status", flat=True).first()


def deployments(limit: int = 200) -> list[dict] | None:
    """Every model server deployment with its nodes; None while there is no Deployment model."""
    deployment_model = model("Deployment")
    if deployment_model is None:
        return None
    rows = deployment_model.objects.all()
    with_revision = _has_field(deployment_model, "current_revision")
    if with_revision:
        rows = rows.select_related("current_revision").prefetch_related("current_revision__nodes")
    out = []
    for deployment in rows.order_by("pk")[:limit]:
        revision = getattr(deployment, "current_revision", None) if with_revision else None
        nodes = [n.hostname for n in revision.nodes.all()] if revision is not None and hasattr(revision, "nodes") \
            else [_label(deployment, "node")]
        out.append({"id": deployment.pk, "name": _label(deployment, "name") or str(deployment),
                    "runtime": _label(deployment, "runtime"), "status": _label(deployment, "status") or "unknown",
                    "revision": _label(revision, "number") if revision is not None else "",
                    "nodes": ", ".join(n for n in nodes if n)})
    return out


def deployments_on(node) -> list[dict] | None:
    """Model servers deployed on the node; None (section hidden) while there is no Deployment model."""
    deployment_model = model("Deployment")
    if deployment_model is None:
        return None
    if _has_field(deployment_model, "node"):
        rows = deployment_model.objects.filter(node=node)
    elif _has_field(deployment_model, "current_revision"):
        rows = deployment_model.objects.filter(current_revision__nodes=node).select_related("current_revision")
    else:
        return None
    out = []
    for deployment in rows.order_by("pk"):
        revision = getattr(deployment, "current_revision", None)
        endpoints = [e for e in (getattr(deployment, "endpoints", None) or [])
                     if isinstance(e, dict) and e.get("node") in (node.hostname, node.pk)]
        out.append({"id": deployment.pk, "name": _label(deployment, "name") or str(deployment),
                    "runtime": _label(deployment, "runtime"), "status": _label(deployment, "status") or "unknown",
                    "port": _label(revision, "port") if revision is not None else _label(deployment, "port"),
                    "endpoint": next((str(e.get("url") or e.get("endpoint") or "") for e in endpoints), "")})
    return out

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from microdc.core import audit
from microdc.core.api.viewsets import AuditedModelViewSet
from microdc.core.roles import Role
from microdc.nodes.models import Node

from ..jobs import create_job, request_cancel
from ..models import Deployment, DeploymentRevision, Job, SigningKey
from ..ssh_keys import ensure_keypair
from .serializers import (
    DeploymentSerializer,
    JobEventSerializer,
    JobSerializer,
    RevisionSerializer,
    RollbackSerializer,
    SigningKeySerializer,
)

REVISION_FIELDS = ["artifact", "artifact_sha256", "artifact_signature", "signing_key", "accelerators", "port",
                   "args", "env", "note"]


class DeploymentRemoved(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "removed"


def _job_response(request, job: Job, deployment: Deployment | None = None) -> Response:
    context = {"request": request}
    body = {"job": JobSerializer(job, context=context).data}
    if deployment is not None:
        body["deployment"] = DeploymentSerializer(Deployment.objects.get(pk=deployment.pk), context=context).data
    return Response(body, status=status.HTTP_202_ACCEPTED)


def _live(deployment: Deployment) -> Deployment:
    """A removed deployment is history: it is not changed again (its name may already be someone else's)."""
    if deployment.status == Deployment.Status.REMOVED:
        raise DeploymentRemoved(f"deployment {deployment.name} (id {deployment.pk}) is removed; "
                                "create a new deployment instead")
    return deployment


def _new_revision(deployment: Deployment, data: dict, user) -> DeploymentRevision:
    nodes = data.pop("nodes")
    number = (deployment.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    revision = DeploymentRevision.objects.create(deployment=deployment, number=number, created_by=user, **data)
    revision.nodes.set(nodes)
    return revision


def _launch(request, deployment: Deployment, revision: DeploymentRevision, kind=Job.Kind.DEPLOY) -> Job:
    nodes = revision.nodes.all()
    if kind == Job.Kind.DEPLOY and deployment.current_revision_id:
        nodes = nodes | deployment.current_revision.nodes.all()  # nodes that drop out are cleaned too
    # On a busy node the job waits, queued, behind the job there (its summary says which).
    return create_job(kind, nodes.distinct(), request.user, deployment=deployment, revision=revision)


class DeploymentViewSet(AuditedModelViewSet):
    """Model servers. Every change is a new revision applied by a job (canary first, rolled back on failure)."""

    queryset = Deployment.objects.select_related("current_revision").prefetch_related("current_revision__nodes")
    serializer_class = DeploymentSerializer
    filterset_fields = ["runtime", "status"]
    search_fields = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(responses={202: inline_serializer("DeploymentJob", {"job": JobSerializer(),
                                                                      "deployment": DeploymentSerializer()})})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        revision_data = dict(data.pop("revision"))
        try:
            with transaction.atomic():
                # A removed deployment of this name stays, with its jobs and events: this is a new row.
                deployment = Deployment.objects.create(created_by=request.user, **data)
                revision = _new_revision(deployment, revision_data, request.user)
                self._audit("create", deployment, {"runtime": {"old": None, "new": deployment.runtime},
                                                    "revision": {"old": None, "new": 1}})
                job = _launch(request, deployment, revision)
        except IntegrityError:
            # Another request took the name between validation and insert.
            if Deployment.objects.filter(name=data["name"]).exclude(status=Deployment.Status.REMOVED).exists():
                raise ValidationError({"name": f"a deployment named {data['name']} exists"}) from None
            raise
        return _job_response(request, job, deployment)

    @extend_schema(request=RevisionSerializer(partial=True),
                   responses={202: inline_serializer("RevisionJob", {"job": JobSerializer(),
                                                                    "deployment": DeploymentSerializer()})})
    def partial_update(self, request, *args, **kwargs):
        """Change the deployment (artifact, nodes = scale, port, args, env): a new revision and its rollout."""
        deployment = _live(self.get_object())
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": "the body must be a JSON object of revision fields"})
        # The priority belongs to the deployment, not to a revision: changing only it rolls nothing out.
        priority = self._priority(request.data["priority"]) if "priority" in request.data else None
        if set(request.data) == {"priority"}:
            with transaction.atomic():
                self._set_priority(deployment, priority)
            return Response(DeploymentSerializer(Deployment.objects.get(pk=deployment.pk),
                                                 context=self.get_serializer_context()).data)
        data = {k: v for k, v in request.data.items() if k != "priority"}
        current = deployment.current_revision or deployment.revisions.order_by("-number").first()
        base = RevisionSerializer(current, context=self.get_serializer_context()).data
        kept = REVISION_FIELDS if "placement" in data else [*REVISION_FIELDS, "nodes"]
        if "placement" in data:  # the appliance chooses nodes and accelerators afresh
            kept = [k for k in kept if k != "accelerators"]
        merged = {k: base[k] for k in kept} | data
        serializer = RevisionSerializer(data=merged, context={**self.get_serializer_context(),
                                                              "deployment": deployment})
        serializer.is_valid(raise_exception=True)
        changed = [k for k in data if k in merged and base.get(k) != merged[k]]
        with transaction.atomic():
            if priority is not None:
                self._set_priority(deployment, priority)
            revision = _new_revision(deployment, dict(serializer.validated_data), request.user)
            self._audit("update", deployment, {k: {"old": audit.masked(DeploymentRevision, k, base.get(k)),
                                                   "new": audit.masked(DeploymentRevision, k, merged[k])}
                                               for k in changed})
            job = _launch(request, deployment, revision)
        return _job_response(request, job, deployment)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @staticmethod
    def _priority(value) -> int:
        try:
            return DeploymentSerializer().fields["priority"].run_validation(value)
        except ValidationError as exc:
            raise ValidationError({"priority": exc.detail}) from exc

    def _set_priority(self, deployment: Deployment, priority: int) -> None:
        if priority != deployment.priority:
            Deployment.objects.filter(pk=deployment.pk).update(priority=priority)
            self._audit("update", deployment, {"priority": {"old": deployment.priority, "new": priority}})

    @extend_schema(request=None, responses={202: inline_serializer("RemoveJob", {"job": JobSerializer()})})
    def destroy(self, request, *args, **kwargs):
        """Remove the model server from every node it runs on (a job); the history stays."""
        deployment = _live(self.get_object())
        revision = deployment.current_revision or deployment.revisions.order_by("-number").first()
        with transaction.atomic():
            Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.REMOVING)
            self._audit("delete", deployment, {})
            job = _launch(request, deployment, revision, kind=Job.Kind.REMOVE)
        return _job_response(request, job)

    @extend_schema(request=RollbackSerializer, responses={202: inline_serializer("RollbackJob", {
        "job": JobSerializer(), "deployment": DeploymentSerializer()})})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Go back to an earlier revision: its settings become a new revision, rolled out like any other."""
        deployment = _live(self.get_object())
        body = RollbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        earlier = deployment.revisions.filter(number=body.validated_data["revision"]).first()
        if earlier is None:
            raise ValidationError({"revision": f"{deployment.name} has no revision {body.validated_data['revision']}"})
        data = {k: getattr(earlier, k) for k in REVISION_FIELDS} | {"nodes": list(earlier.nodes.all())}
        data["note"] = f"rollback to r{earlier.number}"
        with transaction.atomic():
            revision = _new_revision(deployment, data, request.user)
            self._audit("action", deployment, {"rollback_to": {"old": None, "new": earlier.number}})
            job = _launch(request, deployment, revision)
        return _job_response(request, job, deployment)

    @extend_schema(responses={200: RevisionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def revisions(self, request, pk=None):
        # Paged like every other list (the schema drf-spectacular derives says so, and a long-lived
        # deployment gathers revisions).
        deployment = self.get_object()
        page = self.paginate_queryset(deployment.revisions.prefetch_related("nodes"))
        return self.get_paginated_response(RevisionSerializer(page, many=True,
                                                              context=self.get_serializer_context()).data)


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    # The deployment's revisions are what a summary is masked against.
    queryset = Job.objects.select_related("revision").prefetch_related("nodes", "deployment__revisions")
    serializer_class = JobSerializer
    action_roles = {"cancel": Role.OPERATOR}
    filterset_fields = ["kind", "status", "deployment"]
    ordering_fields = ["created"]

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        if job.status in Job.FINISHED:
            raise ValidationError({"status": f"job {job.pk} has already ended ({job.status})"})
        request_cancel(job)
        audit.record(actor=request.user, source="api", action="action", instance=job,
                     changes={"cancel_requested": {"old": False, "new": True}})
        return Response(JobSerializer(Job.objects.get(pk=job.pk), context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: JobEventSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The job's runner events in order (`?after=<counter>` for the ones after a counter)."""
        job = self.get_object()
        events = job.events.all()
        after = request.query_params.get("after", "")
        if after:
            if not after.isdigit():
                raise ValidationError({"after": "an event counter"})
            events = events.filter(counter__gt=int(after))
        page = self.paginate_queryset(events)
        return self.get_paginated_response(JobEventSerializer(page, many=True).data)

    @extend_schema(responses={(200, "text/plain"): str})
    @action(detail=True, methods=["get"])
    def stdout(self, request, pk=None):
        """The job's Ansible output as text (a download)."""
        job = self.get_object()
        text = job.stdout or "".join(e.stdout + "\n" for e in job.events.exclude(stdout=""))
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}.txt"'
        return response


class SigningKeyViewSet(AuditedModelViewSet):
    queryset = SigningKey.objects.all()
    serializer_class = SigningKeySerializer


class BootstrapView(APIView):
    """Install the node agent on nodes (admins): a job per request; each node gets a new agent token."""

    write_role = Role.ADMIN

    @extend_schema(request=inline_serializer("Bootstrap", {"nodes": serializers.ListField(
        child=serializers.CharField())}), responses={202: inline_serializer("BootstrapJob", {"job": JobSerializer()})})
    def post(self, request):
        names = request.data.get("nodes")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValidationError({"nodes": "a list of node host names"})
        nodes = list(Node.objects.live().filter(hostname__in=names))
        unknown = sorted(set(names) - {n.hostname for n in nodes})
        if unknown:
            raise ValidationError({"nodes": f"unknown nodes: {', '.join(unknown)}"})
        return _job_response(request, create_job(Job.Kind.BOOTSTRAP, nodes, request.user))


class SshKeyView(APIView):
    """The appliance's SSH public key, for the nodes' authorized_keys (admins). The private key never leaves."""

    read_role = Role.ADMIN

    @extend_schema(responses={200: inline_serializer("SshKey", {"public_key": serializers.CharField()})})
    def get(self, request):
        _, public = ensure_keypair()
        return Response({"public_key": public})

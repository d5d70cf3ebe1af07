"""Model servers on the nodes: deployments, their revisions, the Ansible jobs that apply them, and events.

Every change to a deployment is a new revision; a job applies one revision (or removes the deployment) on
some nodes. A node runs one job at a time (NodeLock).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from microdc.nodes.models import Node

from .masking import mask_env, mask_url

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$"
name_validator = RegexValidator(NAME_PATTERN, "Lower-case letters, digits and inner hyphens, at most 48.")


class Runtime(models.TextChoices):
    MLSERVER = "mlserver", "MLServer (CPU)"
    VLLM = "vllm", "vLLM"
    TRITON = "triton", "NVIDIA Triton"
    LLAMACPP = "llamacpp", "llama.cpp server"


class SigningKey(models.Model):
    """An ed25519 public key whose signatures on model artifacts the admin trusts."""

    name = models.CharField(max_length=100, unique=True)
    public_key = models.TextField(help_text="Raw 32-byte key, base64, or a PEM / OpenSSH public key.")
    created = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class Deployment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DEPLOYING = "deploying"
        HEALTHY = "healthy"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"
        REMOVING = "removing"
        REMOVED = "removed"

    name = models.CharField(max_length=48, validators=[name_validator],
                            help_text="Unique among deployments that are not removed; a removed one keeps its history.")
    runtime = models.CharField(max_length=16, choices=Runtime.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    current_revision = models.ForeignKey("DeploymentRevision", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+", help_text="The revision running now.")
    endpoints = models.JSONField(default=list, blank=True,
                                 help_text="Per node: inference endpoint and metrics URL, once healthy.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    priority = models.SmallIntegerField(
        default=0, validators=[MinValueValidator(-100), MaxValueValidator(100)],
        help_text="Power budgets cap lower priorities first (-100..100).")

    class Meta:
        ordering = ["name", "-created"]
        constraints = [models.UniqueConstraint(fields=["name"], condition=~models.Q(status="removed"),
                                               name="deployment_name_unique_unless_removed")]

    def __str__(self):
        return self.name


class DeploymentRevision(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    artifact = models.CharField(max_length=1000, help_text="Path on the appliance or an http(s) URL.")
    artifact_sha256 = models.CharField(max_length=64, validators=[RegexValidator(r"^[0-9a-f]{64}$",
                                                                                 "64 lower-case hex digits.")])
    artifact_signature = models.TextField(blank=True, help_text="Base64 ed25519 signature of the artifact.")
    signing_key = models.ForeignKey(SigningKey, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    nodes = models.ManyToManyField(Node, related_name="deployment_revisions")
    accelerators = models.JSONField(default=list, blank=True, help_text="Accelerator indices on each node.")
    port = models.PositiveIntegerField(validators=[MinValueValidator(1024), MaxValueValidator(65535)])
    args = models.JSONField(default=list, blank=True, help_text="Extra argv words for the runtime.")
    env = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=200, blank=True)
    placement = models.JSONField(default=dict, blank=True,
                                 help_text="When the appliance chose the node: the request, the choice and why.")

    audit_maskers = {"env": mask_env, "artifact": mask_url}

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [models.UniqueConstraint(fields=["deployment", "number"], name="revision_number_unique")]

    def __str__(self):
        return f"{self.deployment.name} r{self.number}"


class Job(models.Model):
    class Kind(models.TextChoices):
        BOOTSTRAP = "bootstrap"
        DEPLOY = "deploy"
        REMOVE = "remove"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"
        INTERRUPTED = "interrupted"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.INTERRUPTED)

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    revision = models.ForeignKey(DeploymentRevision, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="jobs")
    nodes = models.ManyToManyField(Node, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True, help_text="Updated while a worker runs the job.")
    worker = models.CharField(max_length=300, blank=True, help_text="host:pid of the worker running the job.")
    cancel_requested = models.BooleanField(default=False)
    host_results = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True, help_text="What happened, in words (rollout steps, rollback, error).")
    stdout = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"job {self.pk} {self.kind}"


class JobEvent(models.Model):
    """One ansible-runner event (secrets redacted), stored in batches as the job runs."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    counter = models.PositiveIntegerField()
    event = models.CharField(max_length=64)
    host = models.CharField(max_length=253, blank=True)
    task = models.CharField(max_length=500, blank=True)
    stdout = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["job", "counter"]
        indexes = [models.Index(fields=["job", "counter"])]

    def __str__(self):
        return f"{self.job_id}#{self.counter} {self.event}"


class NodeLock(models.Model):
    """A node runs one job at a time: the row exists while a job holds the node."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, primary_key=True, related_name="job_lock")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="locks")
    taken = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.node_id} held by job {self.job_id}"

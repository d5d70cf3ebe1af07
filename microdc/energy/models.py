"""The energy app's state: the model servers the worker scrapes, which hardware each deployment holds over
time, and the per-bucket ledger of what each deployment used (energy.ledger computes it from the rollups).

Counters scraped from model servers live in the telemetry store (one Source per server); this app keeps
what ties them to deployments, and the attribution that windows sum.
"""

from django.db import models

from microdc.nodes.models import Accelerator, Node, Site
from microdc.provisioning.models import Deployment, Runtime
from microdc.telemetry.models import MODEL_SERVER_KEY_PREFIX, Source


def model_server_source_key(deployment_id: int, node_id: int) -> str:
    """The key of the telemetry Source holding a deployment's server counters on one node (energy.scrape)."""
    return f"{MODEL_SERVER_KEY_PREFIX}{deployment_id}/{node_id}"


def model_server_deployment_id(source_key: str) -> int:
    """The deployment of a model_server_source_key."""
    return int(source_key.removeprefix(MODEL_SERVER_KEY_PREFIX).split("/", 1)[0])


class ModelServer(models.Model):
    """One deployment's server on one node, as the worker scrapes it (its counters: `source`)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="model_servers")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="model_servers")
    runtime = models.CharField(max_length=16, choices=Runtime.choices)
    metrics_url = models.CharField(max_length=1000, blank=True)
    source = models.OneToOneField(Source, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="model_server")
    model_name = models.CharField(max_length=200, blank=True, help_text="The runtime's own model label.")
    active = models.BooleanField(default=True, help_text="Scraped now: its deployment is healthy on the node.")
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    stale_reason = models.TextField(blank=True, help_text="Why the counters are stale; empty when fresh.")
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "node"], name="model_server_unique")]

    def __str__(self):
        return f"{self.deployment.name}@{self.node.hostname}"


class Reservation(models.Model):
    """A deployment holding one accelerator of a node (or, with accelerator null, running on a node without
    taking any) from `start` until `end` (null: still)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="reservations")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="reservations")
    accelerator = models.ForeignKey(Accelerator, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="reservations")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["node", "start"]), models.Index(fields=["deployment", "start"])]

    def __str__(self):
        return f"{self.deployment_id} on {self.node_id}/{self.accelerator_id} from {self.start:%Y-%m-%d %H:%M}"


class UsageBucket(models.Model):
    """What one deployment used on one node over one bucket (1 minute, 1 hour or 1 UTC day), attributed from the
    telemetry rollups. A window's figures are sums of these. Token and request counts are null where the
    runtime does not report them (unknown, never zero)."""

    MINUTE = 60
    HOUR = 3600
    DAY = 86400  # UTC days: a 30-day window reads ~30 rows per deployment and node, not ~720

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="usage")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    resolution = models.PositiveIntegerField(choices=[(MINUTE, "1 minute"), (HOUR, "1 hour"), (DAY, "1 day")])
    start = models.DateTimeField()
    gpu_joules = models.FloatField(default=0.0)
    gpu_idle_joules = models.FloatField(default=0.0, help_text="GPU energy in minutes with no request served.")
    node_joules = models.FloatField(default=0.0, help_text="GPU energy plus the share of node overhead.")
    facility_joules = models.FloatField(null=True, blank=True, help_text="Node energy times the hour's PUE.")
    operational_grams_at_pue1 = models.FloatField(
        null=True, blank=True, help_text="Node energy times the bucket's effective carbon intensity.")
    operational_grams = models.FloatField(
        null=True, blank=True, help_text="Operational carbon of the facility energy (hour rows, at the hour's PUE).")
    gpu_coverage = models.FloatField(default=0.0)
    node_coverage = models.FloatField(default=0.0)
    server_coverage = models.FloatField(default=0.0)
    requests = models.FloatField(null=True, blank=True)
    failed_requests = models.FloatField(null=True, blank=True)
    prompt_tokens = models.FloatField(null=True, blank=True)
    generation_tokens = models.FloatField(null=True, blank=True)
    latency = models.JSONField(default=dict, blank=True, help_text="Histogram bucket and sum/count increases.")
    rules = models.JSONField(default=list, blank=True, help_text="The attribution rules this bucket used.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "node", "resolution", "start"],
                                               name="usage_bucket_unique")]
        indexes = [models.Index(fields=["resolution", "start"])]

    def __str__(self):
        return f"{self.deployment_id}/{self.node_id}/{self.resolution}s@{self.start.isoformat()}"


class UnallocatedBucket(models.Model):
    """A node's energy that no deployment holds over one bucket: reported, never hidden."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    resolution = models.PositiveIntegerField(choices=UsageBucket._meta.get_field("resolution").choices)
    start = models.DateTimeField()
    gpu_joules = models.FloatField(default=0.0, help_text="Accelerators nobody holds.")
    node_joules = models.FloatField(default=0.0, help_text="Their GPU energy plus their share of overhead.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "resolution", "start"], name="unallocated_unique")]

    def __str__(self):
        return f"{self.node_id}/{self.resolution}s@{self.start.isoformat()}"


class CarbonScheduleSeen(models.Model):
    """The site's carbon-intensity schedule as the ledger last computed with it (a digest per UTC day), so a
    changed schedule recomputes the minutes it changes and nothing else."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="+")
    days = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"carbon schedule of {self.site_id} seen by the ledger"

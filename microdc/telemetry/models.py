"""The telemetry store: what reports (sources), raw samples, rollups, and each agent's ingest state.

One store for node telemetry and facility meter readings alike. Raw samples are kept for a short, configurable
time; history lives in 1-minute and 1-hour rollups per source, computed by the worker (telemetry.rollups).
"""

from django.db import models
from django.utils import timezone

from microdc.nodes.models import Accelerator, FacilityMeter, Node


class Source(models.Model):
    """One thing that reports metrics: an accelerator, a node sensor (hwmon/RAPL), or a meter channel."""

    key = models.CharField(max_length=300, unique=True)
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.CASCADE, related_name="sources")
    accelerator = models.ForeignKey(
        Accelerator, null=True, blank=True, on_delete=models.CASCADE, related_name="sources"
    )
    meter = models.ForeignKey(FacilityMeter, null=True, blank=True, on_delete=models.CASCADE, related_name="sources")
    # Node sensors: "<source>/<chip>/<name>" (rapl/intel-rapl:0/package-0); meters: the channel ("mains", "L1").
    sensor = models.CharField(max_length=200, blank=True)
    simulated = models.BooleanField(default=False)
    last_ts = models.DateTimeField(null=True, blank=True)
    last_values = models.JSONField(default=dict, blank=True)
    # Non-numeric state of the latest sample: throttle reasons, MIG mode, alarm states.
    last_attributes = models.JSONField(default=dict, blank=True)
    # Every metric name a node source has reported (sorted), so their number stays bounded (telemetry.limits).
    metric_names = models.JSONField(default=list, blank=True)
    # Oldest sample not yet rolled up (null: rollups are current). Writers only ever move it earlier.
    dirty_since = models.DateTimeField(null=True, blank=True, db_index=True)
    # A rollup runner's claim (telemetry.rollup_claims): the dirty mark it took, until when it holds the source,
    # and, after failures, how many in a row, the last error and when to try again.
    rollup_claimed_since = models.DateTimeField(null=True, blank=True)
    rollup_claim = models.UUIDField(null=True, blank=True, db_index=True)
    rollup_lease_until = models.DateTimeField(null=True, blank=True)
    rollup_failures = models.PositiveIntegerField(default=0)
    rollup_error = models.TextField(blank=True)
    rollup_retry_at = models.DateTimeField(null=True, blank=True)
    # Earliest minute bucket rewritten since what is derived from the rollups (energy.ledger) last read them.
    # The rollup that rewrites a bucket moves it earlier in the same transaction; the consumer takes it.
    derived_dirty_since = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["node", "accelerator"])]

    def __str__(self):
        return self.key


class Sample(models.Model):
    """One collection from one reporter (a node's agent or a meter poll): every source's values at one instant.

    values = {"<source id>": {metric: value}}. One row per collection rather than per device keeps ingest
    near the database's raw insert rate (a GPU node reports 8 devices and its sensors at once).
    """

    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    meter = models.ForeignKey(FacilityMeter, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    ts = models.DateTimeField()
    values = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["node", "ts"]), models.Index(fields=["meter", "ts"])]

    def __str__(self):
        return f"{self.node_id or self.meter_id}@{self.ts.isoformat()}"


class Rollup(models.Model):
    """Statistics of one source over one bucket.

    stats = {metric: {"n", "min", "max", "sum"}} for gauges, plus "integral" (value x seconds, for power:
    joules) where consecutive samples are close enough; {metric: {"delta", "last"}} for counters, the
    increase with counter resets handled. "coverage" is the seconds of the bucket that samples cover.
    """

    MINUTE = 60
    HOUR = 3600

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="rollups")
    resolution = models.PositiveIntegerField(choices=[(MINUTE, "1 minute"), (HOUR, "1 hour")])
    start = models.DateTimeField()
    coverage = models.FloatField(default=0.0)
    stats = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "resolution", "start"], name="rollup_unique_bucket")
        ]

    def __str__(self):
        return f"{self.source_id}/{self.resolution}s@{self.start.isoformat()}"


class ReceivedBatch(models.Model):
    """Batch ids already stored, so an agent's re-sent batch is acknowledged without storing it twice."""

    batch_id = models.UUIDField(unique=True)
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="+")
    received = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return str(self.batch_id)


class AgentState(models.Model):
    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="agent_state", primary_key=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    agent_version = models.CharField(max_length=50, blank=True)
    batches_total = models.BigIntegerField(default=0)
    samples_total = models.BigIntegerField(default=0)
    rejected_total = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return f"agent of node {self.node_id}"

"""The power app's state: the power limit the appliance wants for each accelerator, and every change of it.

A person (operator) and a policy (the worker) may each ask for a cap; the desired limit is the lower of the
two, so a policy never lifts an operator's cap and an operator never lifts a policy's. An accelerator nobody
ever capped through the appliance has no row and is never touched; a row whose caps are both cleared asks
for the device's default.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from microdc.nodes.models import Accelerator


class PowerLimit(models.Model):
    accelerator = models.OneToOneField(Accelerator, on_delete=models.CASCADE, primary_key=True,
                                       related_name="power_limit")
    operator_watts = models.FloatField(null=True, blank=True, help_text="The cap a person set (null: none).")
    policy_watts = models.FloatField(null=True, blank=True, help_text="The cap a policy imposes (null: none).")
    policy = models.CharField(max_length=64, blank=True, help_text="Which policy imposes policy_watts.")
    updated = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.accelerator}: {self.desired_watts or 'default'}"

    @property
    def desired_watts(self) -> float | None:
        """What the agent is asked to apply (None: the device's default)."""
        caps = [w for w in (self.operator_watts, self.policy_watts) if w is not None]
        return min(caps) if caps else None


class PowerLimitChange(models.Model):
    """One change of an accelerator's desired limit: before and after, who or which policy, and why."""

    accelerator = models.ForeignKey(Accelerator, on_delete=models.CASCADE, related_name="power_limit_changes")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, help_text="The user's name, or the policy's.")
    policy = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    before_watts = models.FloatField(null=True, blank=True, help_text="Desired limit before (null: default).")
    after_watts = models.FloatField(null=True, blank=True, help_text="Desired limit after (null: default).")

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.accelerator} {self.before_watts} -> {self.after_watts} by {self.actor_name}"


class PolicyCap(models.Model):
    """One policy's cap on one accelerator for one limit of the room (a breaker, a UPS on battery, a cooling
    unit in alarm). An accelerator's policy cap is the lowest of its rows, so one limit recovering never lifts
    a cap another limit still needs."""

    class Policy(models.TextChoices):
        BUDGET = "budget", "Power budget"
        BATTERY = "battery", "UPS on battery"
        COOLING = "cooling", "Cooling alarm"
        TUNING = "tuning", "Energy-optimal cap sweep"

    policy = models.CharField(max_length=16, choices=Policy.choices)
    key = models.CharField(max_length=200, help_text="The limit acted on (microdc.power.capacity keys).")
    accelerator = models.ForeignKey(Accelerator, on_delete=models.CASCADE, related_name="policy_caps")
    watts = models.FloatField()
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "key", "accelerator"], name="policy_cap_unique")]

    def __str__(self):
        return f"{self.policy} {self.key} {self.accelerator}: {self.watts:g} W"


class PolicyState(models.Model):
    """Hysteresis memory of one policy on one limit: when it last acted, and since when the limit has been calm
    (far enough under it to give power back)."""

    policy = models.CharField(max_length=16, choices=PolicyCap.Policy.choices)
    key = models.CharField(max_length=200)
    last_action_at = models.DateTimeField(null=True, blank=True)
    calm_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["policy", "key"], name="policy_state_unique")]

    def __str__(self):
        return f"{self.policy} {self.key}"


class PolicyEvent(models.Model):
    """One policy action, for the facility page's timeline and the alerts: what it saw and what it changed."""

    class Action(models.TextChoices):
        LOWERED = "lowered", "Caps lowered"
        RAISED = "raised", "Caps raised"
        RELEASED = "released", "Caps released"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    policy = models.CharField(max_length=16, choices=PolicyCap.Policy.choices)
    key = models.CharField(max_length=200)
    site = models.ForeignKey("nodes.Site", on_delete=models.CASCADE, related_name="power_policy_events")
    action = models.CharField(max_length=16, choices=Action.choices)
    summary = models.CharField(max_length=500)
    measured = models.FloatField(null=True, blank=True)
    limit = models.FloatField(null=True, blank=True)
    unit = models.CharField(max_length=4, blank=True)
    # [{"accelerator": id, "before": watts|null, "after": watts|null}]
    changes = models.JSONField(default=list)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.policy} {self.action} {self.key}"


class CapSweep(models.Model):
    """A tuning run for one deployment under steady load: its accelerators' cap stepped over their range, J per
    generated token and tokens/s measured at each step (NVML energy counters, scraped token counters), and the
    cap with the lowest J/token whose throughput stays above the floor proposed (or applied)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    deployment = models.ForeignKey("provisioning.Deployment", on_delete=models.CASCADE, related_name="cap_sweeps")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    apply = models.BooleanField(default=False, help_text="Set the proposed cap when done (else only propose).")
    throughput_floor = models.FloatField(default=0.9, help_text="Share of the uncapped tokens/s to keep.")
    steps = models.PositiveSmallIntegerField(default=6)
    step_seconds = models.PositiveIntegerField(default=120, help_text="Measured time per step.")
    warmup_seconds = models.PositiveIntegerField(default=20, help_text="Left out at each step's start.")
    caps = models.JSONField(default=list, help_text="The caps stepped through, W (the first is the default).")
    accelerators = models.JSONField(default=list, help_text="Ids of the accelerators swept.")
    step = models.PositiveSmallIntegerField(default=0)
    step_started_at = models.DateTimeField(null=True, blank=True)
    baseline = models.JSONField(null=True, blank=True, help_text="Counters at the start of the measured part.")
    results = models.JSONField(default=list)
    proposed_watts = models.FloatField(null=True, blank=True)
    applied = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"sweep {self.pk} of {self.deployment_id} ({self.status})"

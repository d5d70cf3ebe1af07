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

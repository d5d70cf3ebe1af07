"""The facility app's state: each meter's polling health, and the grid's carbon intensity over time.

Meters themselves are inventory (nodes.FacilityMeter); their readings live in the telemetry store.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from microdc.nodes.models import FacilityMeter, Site


class MeterState(models.Model):
    meter = models.OneToOneField(FacilityMeter, on_delete=models.CASCADE, primary_key=True, related_name="state")
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_poll = models.DateTimeField(default=timezone.now, db_index=True)
    last_duration_seconds = models.FloatField(null=True, blank=True)
    # The read in flight (microdc.facility.poll_leases): which worker's claim, and until when it holds the meter.
    poll_claim = models.CharField(max_length=250, blank=True)
    poll_lease_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"state of {self.meter_id}"


class CarbonIntensity(models.Model):
    """Grid carbon intensity from `valid_from` until the next entry of the same site (a constant is one
    entry; a time-varying schedule is many)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="carbon_intensities")
    valid_from = models.DateTimeField()
    grams_co2e_per_kwh = models.FloatField(validators=[MinValueValidator(0)])
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["site", "valid_from"]
        constraints = [models.UniqueConstraint(fields=["site", "valid_from"], name="carbon_intensity_unique_start")]

    def __str__(self):
        return f"{self.site_id} from {self.valid_from:%Y-%m-%d %H:%M}: {self.grams_co2e_per_kwh} g/kWh"

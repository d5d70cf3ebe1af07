"""Facility equipment that is metered: utility feed, UPS, PDUs, cooling, on-site generation, water.

Each meter declares where it sits relative to the PUE boundary (ISO/IEC 30134-2), so the site's PUE
category follows from which meters exist.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from microdc.core.models import SimulatedMixin
from microdc.nodes.models import Rack, Site


class FacilityMeter(SimulatedMixin):
    class Kind(models.TextChoices):
        UTILITY_FEED = "utility_feed", "Utility feed"
        UPS = "ups", "UPS"
        PDU = "pdu", "PDU"
        COOLING_UNIT = "cooling_unit", "Cooling unit (CDU / CRAC / CRAH)"
        CHILLER = "chiller", "Chiller"
        GENERATION = "generation", "On-site generation (PV)"
        WATER = "water", "Water"

    class Boundary(models.TextChoices):
        FACILITY_INPUT = "facility_input", "Facility input (total facility energy)"
        IT_LOAD = "it_load", "IT load (IT equipment energy)"
        COOLING = "cooling", "Cooling"
        OTHER = "other", "Other"

    class Protocol(models.TextChoices):
        REDFISH = "redfish", "Redfish"
        SNMP = "snmp", "SNMP"
        MODBUS = "modbus", "Modbus TCP"
        PROMQL = "promql", "PromQL (existing Prometheus)"
        PUSH = "push", "REST push"

    class ItMeasurementPoint(models.TextChoices):
        # Where an IT-load meter measures; decides the PUE category (1: UPS output, 2: PDU output, 3: IT input).
        NONE = "", "Not an IT-load meter"
        UPS_OUTPUT = "ups_output", "UPS output (category 1)"
        PDU_OUTPUT = "pdu_output", "PDU output (category 2)"
        IT_INPUT = "it_input", "IT equipment input (category 3)"

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="meters")
    rack = models.ForeignKey(Rack, null=True, blank=True, on_delete=models.SET_NULL, related_name="meters")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    boundary = models.CharField(max_length=16, choices=Boundary.choices)
    it_measurement_point = models.CharField(
        max_length=16, choices=ItMeasurementPoint.choices, blank=True, default=ItMeasurementPoint.NONE
    )
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    settings = models.JSONField(default=dict, blank=True, help_text="Protocol settings (no secrets).")
    # Passwords, SNMPv3 keys, bearer tokens: write-only through the API, masked in the audit log.
    secret = models.JSONField(default=dict, blank=True)
    poll_interval_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(86400)]
    )
    timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(120)])
    enabled = models.BooleanField(default=True)

    audit_secret_fields = ("secret",)

    class Meta:
        ordering = ["site", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="meter_name_unique_per_site")]

    def __str__(self):
        return self.name

    def clean(self):
        if self.boundary == self.Boundary.IT_LOAD and not self.it_measurement_point:
            raise ValidationError({"it_measurement_point": "An IT-load meter must say where it measures."})
        if self.boundary != self.Boundary.IT_LOAD and self.it_measurement_point:
            raise ValidationError({"it_measurement_point": "Only IT-load meters have a measurement point."})
        if self.rack_id and self.rack.site_id != self.site_id:
            raise ValidationError({"rack": "The rack belongs to another site."})
        if self.protocol not in {self.Protocol.PUSH} and not self.host:
            raise ValidationError({"host": f"A {self.get_protocol_display()} meter needs a host."})

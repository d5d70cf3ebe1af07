"""The site inventory: sites, racks, nodes, their accelerators (GPUs and NPUs), and the facility meters.

Facility meters (utility feed, UPS, PDUs, cooling, on-site generation, water) are inventory too: each declares
where it sits relative to the PUE boundary (ISO/IEC 30134-2), so the site's PUE category follows from which
meters exist. Reading them is the facility app's job.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from microdc.core.models import SimulatedMixin

from .placement import validate_placement

hostname_validator = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    "Enter a valid host name: lower-case letters, digits, hyphens and dots (RFC 1123).",
)
address_validator = RegexValidator(
    r"^[A-Za-z0-9.:\-\[\]]{1,253}$", "Enter an IP address or a DNS name."
)
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,49}$", "Use lower-case letters, digits, '-' and '_'.")
ssh_user_validator = RegexValidator(r"^[a-z_][a-z0-9_-]{0,31}$", "Enter a valid POSIX user name.")


def validate_positive(value: float) -> None:
    if value is not None and not value > 0:
        raise ValidationError(f"Must be greater than 0, got {value}.")


class EmbodiedCarbonMixin(models.Model):
    """Manufacturing carbon of the hardware (SCI's M), amortised over its expected life by the energy report."""

    embodied_kgco2e = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Embodied (manufacturing) carbon, kgCO2e, from the vendor's product carbon footprint.")
    expected_life_years = models.FloatField(
        null=True, blank=True, validators=[validate_positive],
        help_text="Years of service the embodied carbon is amortised over.")

    class Meta:
        abstract = True


class RetirableQuerySet(models.QuerySet):
    def live(self):
        return self.filter(retired_at__isnull=True)

    def retired(self):
        return self.filter(retired_at__isnull=False)


class RetirableMixin(models.Model):
    """Hardware that leaves keeps its history: retiring it takes it out of the live views, /metrics, polling
    and telemetry push, while the energy and carbon of past windows stay (see nodes.retirement)."""

    retired_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)

    objects = RetirableQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class Site(SimulatedMixin):
    name = models.CharField(max_length=100, unique=True)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    address = models.CharField(max_length=200, blank=True, help_text="Where the site is, for people.")
    pue_target = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1.0)],
        help_text="The PUE the site aims at; the 'PUE above target' alert compares the 1 h PUE with it.",
    )
    contracted_power_watts = models.FloatField(
        null=True, blank=True, validators=[validate_positive],
        help_text="The utility feed's contracted limit; the site's power budget answers to it.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Rack(SimulatedMixin):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=100)
    height_u = models.PositiveSmallIntegerField(
        default=42, validators=[MinValueValidator(1), MaxValueValidator(60)], help_text="Height in rack units."
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order of the rack in its row, left to right as seen from the cold aisle."
    )
    row = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["site", "row", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="rack_name_unique_per_site")]

    def __str__(self):
        return self.name

    def clean(self):
        # A rack cannot shrink below the nodes it holds.
        if self.pk:
            for node in self.nodes.live():
                if node.top_u > self.height_u:
                    raise ValidationError(
                        {"height_u": f"Node {node.hostname} occupies U{node.position_u}-U{node.top_u}; "
                                     f"the rack must be at least {node.top_u}U."}
                    )


class Node(RetirableMixin, EmbodiedCarbonMixin, SimulatedMixin):
    class Status(models.TextChoices):
        ACTIVE = "active"
        MAINTENANCE = "maintenance"
        OFFLINE = "offline"
        DECOMMISSIONED = "decommissioned"

    hostname = models.CharField(max_length=253, unique=True, validators=[hostname_validator])
    management_address = models.CharField(
        max_length=253, validators=[address_validator], help_text="Address the appliance reaches over SSH."
    )
    ssh_port = models.PositiveIntegerField(default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    ssh_user = models.CharField(max_length=32, default="microdc", validators=[ssh_user_validator])
    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="nodes")
    position_u = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1)], help_text="Lowest rack unit the node occupies (U1 is the bottom)."
    )
    height_u = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(20)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    description = models.TextField(blank=True)
    # The agent's credential: only its hash is kept (see services.issue_agent_token).
    agent_token_id = models.CharField(max_length=16, unique=True, null=True, blank=True, editable=False)
    agent_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # A token a bootstrap is installing: accepted beside the current one until the bootstrap ends, so a
    # failed bootstrap never locks out a working agent (see agent_tokens.issue_pending_agent_token).
    pending_agent_token_id = models.CharField(max_length=16, unique=True, null=True, blank=True, editable=False)
    pending_agent_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    # A whole-node measurement from outside: the PDU outlet feeding the node (energy.node_energy prefers it).
    power_meter = models.ForeignKey(
        "FacilityMeter", null=True, blank=True, on_delete=models.SET_NULL, related_name="metered_nodes",
        help_text="The PDU (or other meter) whose outlet channel measures this node.")
    power_meter_channel = models.CharField(
        max_length=100, blank=True, help_text="The meter channel (PDU outlet) that measures this node alone.")

    audit_secret_fields = ("agent_token_hash", "pending_agent_token_hash")

    class Meta:
        ordering = ["rack", "-position_u"]

    def __str__(self):
        return self.hostname

    @property
    def top_u(self) -> int:
        return self.position_u + self.height_u - 1

    @property
    def site(self) -> Site:
        return self.rack.site

    def clean(self):
        if self.rack_id and self.position_u and self.height_u:
            validate_placement(self.rack, self.position_u, self.height_u, exclude_pk=self.pk)
        validate_power_meter(self.rack if self.rack_id else None, self.power_meter, self.power_meter_channel)


def validate_breaker_ratings(ratings) -> None:
    if not isinstance(ratings, dict):
        raise ValidationError({"breaker_ratings_amperes": 'Must be an object {"channel": amperes}.'})
    for channel, amperes in ratings.items():
        if not isinstance(channel, str) or len(channel) > 100:
            raise ValidationError({"breaker_ratings_amperes": f"Channel {channel!r} must be a string of at most "
                                                              "100 characters."})
        if isinstance(amperes, bool) or not isinstance(amperes, (int, float)) or not 0 < amperes <= 10000:
            raise ValidationError({"breaker_ratings_amperes": f"The rating of channel {channel!r} must be amperes "
                                                              f"above 0 and at most 10000, not {amperes!r}."})


def validate_power_meter(rack, meter, channel: str) -> None:
    """A node's power meter is a meter of its own site, named together with the channel that measures it."""
    if meter is None:
        if channel:
            raise ValidationError({"power_meter_channel": "A channel needs a power meter."})
        return
    if not channel:
        raise ValidationError({"power_meter_channel": f"Name the channel of {meter.name} that measures this node."})
    if rack is not None and meter.site_id != rack.site_id:
        raise ValidationError({"power_meter": f"{meter.name} belongs to another site."})
    if meter.kind == FacilityMeter.Kind.WATER:
        raise ValidationError({"power_meter": f"{meter.name} is a water meter."})


class Accelerator(RetirableMixin, EmbodiedCarbonMixin, SimulatedMixin):
    class Kind(models.TextChoices):
        GPU = "gpu", "GPU"
        NPU = "npu", "NPU"

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="accelerators")
    kind = models.CharField(max_length=3, choices=Kind.choices, default=Kind.GPU)
    vendor = models.CharField(max_length=50, help_text="nvidia, amd, intel, ...")
    model = models.CharField(max_length=100)
    uuid = models.CharField(
        max_length=100, unique=True, null=True, blank=True, help_text="Vendor UUID (NVML: GPU-...)."
    )
    serial = models.CharField(max_length=100, blank=True)
    index = models.PositiveSmallIntegerField(help_text="Index on the node (NVML / CUDA device order).")
    memory_bytes = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(0)])
    power_limit_watts = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["node", "index"]
        constraints = [
            # A retired GPU keeps its history and its index; the one that replaced it takes the slot.
            models.UniqueConstraint(fields=["node", "index"], condition=models.Q(retired_at__isnull=True),
                                    name="accelerator_index_unique_per_node"),
        ]

    def __str__(self):
        return f"{self.node.hostname}/{self.kind}{self.index}"

    def save(self, *args, **kwargs):
        # Empty string would collide on the unique index; "no UUID" is NULL.
        if not self.uuid:
            self.uuid = None
        super().save(*args, **kwargs)


class FacilityMeter(RetirableMixin, SimulatedMixin):
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
    boundary_channel = models.CharField(
        max_length=100, blank=True,
        help_text="The channel whose energy counts at the meter's PUE boundary (UPS: 'output' or 'input'); "
                  "empty: the device's own total.",
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
    # Capacities (microdc.power.capacity): what the equipment may carry; budgets derate them for continuous load.
    # {channel: amperes}: the rated current of the breaker behind each channel ("" is the meter's own input).
    breaker_ratings_amperes = models.JSONField(default=dict, blank=True)
    rated_voltage_volts = models.FloatField(null=True, blank=True, validators=[validate_positive],
                                            help_text="PDU: the circuit voltage (turns a current rating into watts).")
    rated_power_watts = models.FloatField(null=True, blank=True, validators=[validate_positive],
                                          help_text="UPS: its rated real power; feed: the metered limit.")
    rated_heat_removal_watts = models.FloatField(null=True, blank=True, validators=[validate_positive],
                                                 help_text="Cooling unit: the heat it can remove.")

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
        validate_breaker_ratings(self.breaker_ratings_amperes)
        self._check_capacities()

    def _check_capacities(self):
        """A power budget needs a meter that measures power (microdc.power.capacity)."""
        if self.kind == self.Kind.WATER:
            for name in ("rated_power_watts", "rated_voltage_volts", "breaker_ratings_amperes"):
                if getattr(self, name):
                    raise ValidationError({name: "A water meter measures no power: it cannot carry a power budget."})
        if self.rated_heat_removal_watts and self.kind not in (self.Kind.COOLING_UNIT, self.Kind.CHILLER):
            raise ValidationError({"rated_heat_removal_watts": "Only a cooling unit or a chiller removes heat."})
        if self.kind == self.Kind.GENERATION and (self.rated_power_watts or self.breaker_ratings_amperes):
            raise ValidationError({"rated_power_watts": "On-site generation supplies power; budgets apply to what "
                                                        "draws it (feed, UPS, PDU)."})

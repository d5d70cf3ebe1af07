"""The site inventory: sites, racks, nodes and their accelerators (GPUs and NPUs)."""

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


class Site(SimulatedMixin):
    name = models.CharField(max_length=100, unique=True)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    address = models.CharField(max_length=200, blank=True, help_text="Where the site is, for people.")

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
            for node in self.nodes.all():
                if node.top_u > self.height_u:
                    raise ValidationError(
                        {"height_u": f"Node {node.hostname} occupies U{node.position_u}-U{node.top_u}; "
                                     f"the rack must be at least {node.top_u}U."}
                    )


class Node(SimulatedMixin):
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
    created = models.DateTimeField(default=timezone.now, editable=False)

    audit_secret_fields = ("agent_token_hash",)

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


class Accelerator(SimulatedMixin):
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
            models.UniqueConstraint(fields=["node", "index"], name="accelerator_index_unique_per_node"),
        ]

    def __str__(self):
        return f"{self.node.hostname}/{self.kind}{self.index}"

    def save(self, *args, **kwargs):
        # Empty string would collide on the unique index; "no UUID" is NULL.
        if not self.uuid:
            self.uuid = None
        super().save(*args, **kwargs)

"""Users with a role, API tokens (stored hashed) and the audit log."""

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from .roles import Role


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    def save(self, *args, **kwargs):
        # Every role may open the admin; what it may do there follows from the role (backends.RoleBackend).
        self.is_staff = True
        if self.is_superuser:
            self.role = Role.ADMIN
        super().save(*args, **kwargs)


class SimulatedMixin(models.Model):
    """Marks objects that stand in for hardware that is not there; shown wherever the object shows."""

    simulated = models.BooleanField(default=False, help_text="Stands in for hardware that is not present.")

    class Meta:
        abstract = True


def hash_secret(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough: no dictionary can reach them.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A user's API key. Only its hash is stored; the key is shown once, when it is created."""

    PREFIX = "mdc"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires = models.DateTimeField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True, editable=False)

    audit_secret_fields = ("key_hash",)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.user} token {self.key_id}"

    @classmethod
    def new_key(cls) -> tuple[str, str, str]:
        """Return (key, key_id, key_hash); the key has the form mdc_<key_id>_<secret>."""
        key_id = secrets.token_hex(8)
        key = f"{cls.PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        return key, key_id, hash_secret(key)

    @property
    def is_active(self) -> bool:
        return self.revoked is None and (self.expires is None or self.expires > timezone.now())


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        ACTION = "action"

    class Source(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        SYSTEM = "system"

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the record outlives the user.
    actor_name = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type}"


class JobTurn(models.Model):
    """One periodic job's schedule, shared by every worker that runs the job list: when its next turn is due
    and which worker holds the current one (microdc.core.turns)."""

    name = models.CharField(max_length=100, primary_key=True)
    next_due = models.DateTimeField()
    holder = models.CharField(max_length=200, blank=True, help_text="The worker running this turn (host:pid).")
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="Until when the holder owns the turn; after it, any worker may "
                                                 "take the job (its holder died).")
    last_started = models.DateTimeField(null=True, blank=True)
    last_finished = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

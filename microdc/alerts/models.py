"""The alerts app's state: rules, the alert instances they raise (kept as history), silences, receivers, and
the durable outbox of notifications with every delivery attempt.

States follow Prometheus and Grafana: an alert is *pending* while its condition holds for less than the
rule's `for`, *firing* after, *resolved* once the condition has been false for `keep_firing_for`; *nodata*
when the data an active alert stands on stops arriving (never a silent resolve). Labels identify an alert;
its fingerprint is Alertmanager's (FNV-1a 64 over the sorted label set, microdc.alerts.labels).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from microdc.nodes.models import Site


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


# Worst first: the order alerts are shown and routed in.
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


class AlertRule(models.Model):
    """A condition over one kind of thing (scope), with its threshold and durations.

    Built-in rules (`builtin`, installed by microdc.alerts.catalog) have their condition in code; an admin
    changes their threshold, durations, severity and whether they run. Admin-defined rules compare one metric
    of every thing in their scope with a threshold."""

    class Scope(models.TextChoices):
        GPU = "gpu", "Accelerator (GPU/NPU)"
        NODE = "node", "Node (agent and node sensors)"
        METER = "meter", "Facility meter channel"
        SITE = "site", "Site (PUE)"
        DEPLOYMENT = "deployment", "Deployment (energy and errors)"

    class Operator(models.TextChoices):
        GT = ">", "above"
        GE = ">=", "at or above"
        LT = "<", "below"
        LE = "<=", "at or below"
        EQ = "==", "equal to"
        NE = "!=", "not equal to"

    key = models.SlugField(max_length=64, unique=True, help_text="alertname label: the rule's stable name.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    builtin = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    metric = models.CharField(max_length=100, help_text="The value compared (a telemetry metric name, "
                                                        "pue_ratio, joules_per_generated_token, error_ratio, ...).")
    operator = models.CharField(max_length=2, choices=Operator.choices, default=Operator.GT)
    threshold = models.FloatField(null=True, blank=True,
                                  help_text="Null only for built-in conditions that need none (a leak, an ECC error).")
    for_seconds = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(7 * 86400)],
                                              help_text="How long the condition holds before the alert fires.")
    keep_firing_for_seconds = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(86400)],
        help_text="How long a firing alert stays firing after its condition clears (against flapping).")
    window = models.CharField(max_length=8, blank=True,
                              help_text="Site and deployment rules: the window their figure is computed over.")
    # Which things the rule covers: Alertmanager-style matchers on the alert's labels (empty: all of the scope).
    matchers = models.JSONField(default=list, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="Extra labels added to every alert of the rule.")
    summary = models.CharField(max_length=300, blank=True,
                               help_text="Admin rules: the summary, with {subject}, {value}, {threshold} filled in.")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-builtin", "key"]

    def __str__(self):
        return self.key


class Alert(models.Model):
    """One alert instance: one rule on one thing (its labels), from first pending until resolved.

    Exactly one open (not resolved) alert per fingerprint; a condition that returns after a resolve opens a
    new instance, so the history shows each episode."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        FIRING = "firing", "Firing"
        NODATA = "nodata", "Missing data"
        RESOLVED = "resolved", "Resolved"

    OPEN_STATES = (State.PENDING, State.FIRING, State.NODATA)

    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="alerts")
    fingerprint = models.CharField(max_length=16, db_index=True)
    labels = models.JSONField()
    annotations = models.JSONField(default=dict, help_text="summary, description (Alertmanager's annotations).")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING, db_index=True)
    value = models.FloatField(null=True, blank=True, help_text="The last evaluated value.")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    url = models.CharField(max_length=500, blank=True, help_text="Path of the thing's page (generatorURL).")
    active_at = models.DateTimeField(help_text="When the condition first held (pending began).")
    starts_at = models.DateTimeField(null=True, blank=True, help_text="When it began firing (startsAt).")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When it resolved (endsAt).")
    false_since = models.DateTimeField(null=True, blank=True,
                                       help_text="Firing, its condition false since (keep_firing_for counts from it).")
    last_evaluated_at = models.DateTimeField()
    nodata_since = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledgement_comment = models.CharField(max_length=500, blank=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-active_at"]
        constraints = [
            models.UniqueConstraint(fields=["fingerprint"], condition=~Q(state="resolved"),
                                    name="alert_one_open_per_fingerprint"),
        ]
        indexes = [models.Index(fields=["state", "severity"]), models.Index(fields=["ends_at"])]

    def __str__(self):
        return f"{self.labels.get('alertname', '?')} {self.fingerprint}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.RESOLVED


class Silence(models.Model):
    """Mutes notifications of the alerts its matchers all match, from `starts_at` until `ends_at`.

    Silenced alerts still show (marked silenced); they send nothing. Expired by time, never deleted by hand:
    the API's DELETE ends a silence now (as Alertmanager's does)."""

    matchers = models.JSONField(help_text='Alertmanager matchers: [{"name", "value", "isRegex", "isEqual"}].')
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=500)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-ends_at"]
        indexes = [models.Index(fields=["ends_at"])]

    def __str__(self):
        return f"silence {self.pk}"

    def status(self, now=None) -> str:
        """Alertmanager's silence states: pending (not started), active, expired."""
        now = now or timezone.now()
        if self.ends_at <= now:
            return "expired"
        return "pending" if self.starts_at > now else "active"


class Receiver(models.Model):
    """Where notifications go, and which alerts (route) and how grouped (Alertmanager's group_* timings)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (Alertmanager webhook payload, version 4)"
        EMAIL = "email", "E-mail"
        ALERTMANAGER = "alertmanager", "Alertmanager (API v2 forwarding)"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    url = models.URLField(max_length=500, blank=True, help_text="Webhook URL, or the Alertmanager's base URL.")
    email_to = models.JSONField(default=list, blank=True, help_text="E-mail addresses.")
    # Webhook: the HMAC-SHA512 key of X-Microdc-Signature. Alertmanager: {"username", "password"} or
    # {"bearer_token"}. Write-only through the API, masked in the audit log.
    secret = models.JSONField(default=dict, blank=True)
    # Route: which alerts reach this receiver (empty: all).
    severities = models.JSONField(default=list, blank=True, help_text="Severities routed here (empty: all).")
    matchers = models.JSONField(default=list, blank=True, help_text="Alertmanager matchers on the labels.")
    group_by = models.JSONField(default=list, blank=True, help_text='Label names (default ["alertname", "site"]).')
    group_wait_seconds = models.PositiveIntegerField(default=30, validators=[MaxValueValidator(3600)])
    group_interval_seconds = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1),
                                                                                  MaxValueValidator(86400)])
    repeat_interval_seconds = models.PositiveIntegerField(default=4 * 3600, validators=[MinValueValidator(60),
                                                                                        MaxValueValidator(30 * 86400)])
    send_resolved = models.BooleanField(default=True)
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.5), MaxValueValidator(60)])
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    audit_secret_fields = ("secret",)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class NotificationGroup(models.Model):
    """Alertmanager's aggregation group: one receiver's alerts sharing the group_by labels, and when it last
    sent what (so group wait, group interval and repeat interval survive a restart)."""

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="groups")
    group_key = models.CharField(max_length=500)
    group_labels = models.JSONField(default=dict)
    first_seen_at = models.DateTimeField()
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # What the last notification said: {fingerprint: "firing"|"resolved"}; a change is news.
    last_sent_state = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["receiver", "group_key"], name="notification_group_unique")]

    def __str__(self):
        return f"{self.receiver.name} {self.group_key}"


class Notification(models.Model):
    """One message to one receiver, built once (its body is fixed at creation) and kept until delivered or
    given up: the outbox that survives a worker restart."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="notifications")
    group = models.ForeignKey(NotificationGroup, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="notifications")
    group_key = models.CharField(max_length=500, blank=True)
    alert_status = models.CharField(max_length=8, help_text='"firing" or "resolved" (the payload\'s status).')
    fingerprints = models.JSONField(default=list)
    payload = models.JSONField(help_text="The body as it is sent.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then.")
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.receiver.name} {self.alert_status} {self.created:%Y-%m-%d %H:%M:%S}"


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_seconds = models.FloatField()

    class Meta:
        ordering = ["at"]

    def __str__(self):
        return f"{self.notification_id} {'ok' if self.ok else 'failed'} {self.at:%H:%M:%S}"

from django.contrib import admin

from microdc.core.admin import AuditedModelAdmin, PolicyPermissions

from .models import Alert, AlertRule, DeliveryAttempt, Notification, Receiver, Silence


@admin.register(AlertRule)
class AlertRuleAdmin(AuditedModelAdmin):
    list_display = ["key", "name", "builtin", "enabled", "severity", "scope", "metric", "operator", "threshold",
                    "for_seconds", "keep_firing_for_seconds"]
    list_filter = ["builtin", "enabled", "severity", "scope"]
    search_fields = ["key", "name"]


@admin.register(Alert)
class AlertAdmin(AuditedModelAdmin):
    list_display = ["fingerprint", "severity", "state", "active_at", "starts_at", "ends_at", "acknowledged_by"]
    list_filter = ["state", "severity", "site"]
    search_fields = ["fingerprint", "labels"]


@admin.register(Silence)
class SilenceAdmin(AuditedModelAdmin):
    list_display = ["id", "comment", "starts_at", "ends_at", "created_by"]


@admin.register(Receiver)
class ReceiverAdmin(AuditedModelAdmin):
    list_display = ["name", "kind", "enabled", "url", "group_wait_seconds", "group_interval_seconds",
                    "repeat_interval_seconds"]
    list_filter = ["kind", "enabled"]
    # The secret is never shown back, even to admins; set it through the API.
    exclude = ["secret"]


class DeliveryAttemptInline(PolicyPermissions, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["at", "ok", "status_code", "error", "duration_seconds"]


@admin.register(Notification)
class NotificationAdmin(AuditedModelAdmin):
    list_display = ["id", "receiver", "alert_status", "status", "attempts", "created", "delivered_at", "last_error"]
    list_filter = ["status", "receiver", "alert_status"]
    readonly_fields = ["receiver", "group", "group_key", "alert_status", "fingerprints", "payload", "status",
                       "attempts", "next_attempt_at", "claimed_until", "last_error", "created", "delivered_at"]
    inlines = [DeliveryAttemptInline]

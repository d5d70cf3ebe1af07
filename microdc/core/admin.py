"""Admin registrations for accounts and audit, and the audited base class every app's admin uses."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from . import audit, tokens
from .models import ApiToken, AuditEvent, User
from .roles import Role, has_role


class AuditedModelAdmin(admin.ModelAdmin):
    """Admin changes are recorded in the same transaction as the change, like API changes."""

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            before = audit.snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
            super().save_model(request, obj, form, change)
            changes = audit.diff(obj, before, audit.snapshot(obj))
            if changes or not change:
                self._audit(request, "update" if change else "create", obj, changes)

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._audit(request, "delete", obj, audit.diff(obj, audit.snapshot(obj), {}))
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._audit(request, "delete", obj, audit.diff(obj, audit.snapshot(obj), {}))
            super().delete_queryset(request, queryset)

    @staticmethod
    def _audit(request, action, obj, changes):
        audit.record(actor=request.user, source="admin", action=action, instance=obj, changes=changes,
                     remote_addr=audit.client_address(request))


admin.site.unregister(Group)  # roles replace groups
admin.site.site_header = "microdc administration"


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    list_display = ["username", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["role", "is_active", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["username", "role", "password1", "password2"]})]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedModelAdmin):
    list_display = ["key_id", "user", "name", "created", "last_used", "expires", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["user", "key_id", "created", "last_used", "revoked"]
    fields = ["user", "name", "key_id", "created", "expires", "last_used", "revoked"]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False  # the key can only be shown once, through the API

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        with transaction.atomic():
            for token in queryset.filter(revoked__isnull=True):
                tokens.revoke(token)
                self._audit(request, "update", token, {"revoked": {"old": None, "new": token.revoked.isoformat()}})


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["timestamp", "actor_name", "source", "action", "object_type", "object_repr"]
    list_filter = ["source", "action", "object_type"]
    search_fields = ["actor_name", "object_repr"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit log is append-only

    def has_view_permission(self, request, obj=None):
        return has_role(request.user, Role.ADMIN)

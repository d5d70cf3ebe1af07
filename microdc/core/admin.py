"""Admin registrations for accounts and audit, and the base classes every app's admin uses: permissions from
the one role policy (microdc.core.policy), every change audited in the same transaction."""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from . import admins, audit, policy, tokens
from .models import ApiToken, AuditEvent, User
from .roles import Role, has_role


class PolicyPermissions:
    """has_*_permission from the role policy (not user.has_perm, which says yes to every superuser)."""

    def has_view_permission(self, request, obj=None):
        return policy.allows_in_admin(request.user, self.model, "view")

    def has_add_permission(self, request, *args):  # inlines pass the parent object
        return policy.allows_in_admin(request.user, self.model, "add")

    def has_change_permission(self, request, obj=None):
        return policy.allows_in_admin(request.user, self.model, "change")

    def has_delete_permission(self, request, obj=None):
        return policy.allows_in_admin(request.user, self.model, "delete")


class AuditedModelAdmin(PolicyPermissions, admin.ModelAdmin):
    """Admin changes are allowed by the API's role policy and recorded in the same transaction, like API changes."""

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            before = audit.snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
            super().save_model(request, obj, form, change)
            changes = audit.diff(obj, before, audit.snapshot(obj))
            if changes or not change:
                self._audit(request, "update" if change else "create", obj, changes)

    def save_formset(self, request, form, formset, change):
        # Inline rows (a node's accelerators) are changes of their own objects.
        with transaction.atomic():
            stored = {o.pk: audit.snapshot(o) for o in formset.model._default_manager.filter(
                pk__in=[f.instance.pk for f in formset.initial_forms])}
            for deleted in formset.deleted_forms:
                if deleted.instance.pk in stored:
                    self._audit(request, "delete", deleted.instance, audit.diff(deleted.instance,
                                                                                stored[deleted.instance.pk], {}))
            super().save_formset(request, form, formset, change)
            for obj in formset.new_objects:
                self._audit(request, "create", obj, audit.diff(obj, {}, audit.snapshot(obj)))
            for obj, _ in formset.changed_objects:
                if changes := audit.diff(obj, stored.get(obj.pk, {}), audit.snapshot(obj)):
                    self._audit(request, "update", obj, changes)

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


class PolicyInline(PolicyPermissions, admin.TabularInline):
    """Inline rows follow their own model's policy; AuditedModelAdmin.save_formset audits them."""


admin.site.unregister(Group)  # roles replace groups
admin.site.site_header = "microdc administration"


class UserChangeForm(auth_forms.UserChangeForm):
    def clean(self):
        cleaned = super().clean()
        user = self.instance
        # changeform_view runs in a transaction, so the admin rows stay locked until the change is saved.
        if user.pk and not admins.is_admin(role=cleaned.get("role", user.role),
                                           is_active=cleaned.get("is_active", user.is_active),
                                           is_superuser=cleaned.get("is_superuser", user.is_superuser)):
            try:
                admins.keep_an_admin([user.pk])
            except admins.LastAdminError as exc:
                raise ValidationError(str(exc), code="last_admin") from exc
        return cleaned


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    form = UserChangeForm
    list_display = ["username", "role", "is_active", "last_login"]
    list_filter = ["role", "is_active"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Person", {"fields": ["first_name", "last_name", "email"]}),
        ("Access", {"fields": ["role", "is_active", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["username", "role", "password1", "password2"]})]
    actions = ["delete_selected"]

    def user_change_password(self, request, id, form_url=""):
        # Django saves a new password in this view itself, not through save_model.
        with transaction.atomic():
            user = self.get_object(request, unquote(id))
            before = user.password if user is not None else None
            response = super().user_change_password(request, id, form_url)
            if user is not None:
                user.refresh_from_db(fields=["password"])
                if user.password != before:
                    self._audit(request, "update", user, {"password": {"old": audit.MASK, "new": audit.MASK}})
        return response

    def delete_view(self, request, object_id, extra_context=None):
        if request.method != "POST":
            return super().delete_view(request, object_id, extra_context)
        with transaction.atomic():
            user = self.get_object(request, unquote(object_id))
            if user is not None and not self._keeps_an_admin(request, [user.pk]):
                return HttpResponseRedirect(reverse("admin:core_user_change", args=[user.pk]))
            return super().delete_view(request, object_id, extra_context)

    @admin.action(permissions=["delete"], description=django_delete_selected.short_description)
    def delete_selected(self, request, queryset):
        if not request.POST.get("post"):  # the confirmation page
            return django_delete_selected(self, request, queryset)
        with transaction.atomic():
            if not self._keeps_an_admin(request, queryset.values_list("pk", flat=True)):
                return None
            return django_delete_selected(self, request, queryset)

    def _keeps_an_admin(self, request, leaving) -> bool:
        try:
            admins.keep_an_admin(leaving)
        except admins.LastAdminError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        return True


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedModelAdmin):
    """Non-admins see their own tokens only, as in the API; a key is shown once, when the API creates it."""

    list_display = ["key_id", "user", "name", "created", "last_used", "expires", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["user", "key_id", "created", "last_used", "revoked"]
    fields = ["user", "name", "key_id", "created", "expires", "last_used", "revoked"]
    actions = ["revoke_tokens"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if has_role(request.user, Role.ADMIN) else queryset.filter(user=request.user)

    def has_revoke_permission(self, request):
        return policy.allows(request.user, ApiToken, "delete")  # the API's DELETE revokes

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        with transaction.atomic():
            for token in queryset.filter(revoked__isnull=True):
                tokens.revoke(token)
                self._audit(request, "update", token, {"revoked": {"old": None, "new": token.revoked.isoformat()}})


@admin.register(AuditEvent)
class AuditEventAdmin(AuditedModelAdmin):
    list_display = ["timestamp", "actor_name", "source", "action", "object_type", "object_repr"]
    list_filter = ["source", "action", "object_type"]
    search_fields = ["actor_name", "object_repr"]

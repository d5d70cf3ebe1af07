from django.contrib import admin

from microdc.core.admin import AuditedModelAdmin

from .models import Deployment, DeploymentRevision, Job, JobEvent, SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedModelAdmin):
    list_display = ["name", "created"]


class RevisionInline(admin.TabularInline):
    model = DeploymentRevision
    extra = 0
    fields = ["number", "artifact", "artifact_sha256", "port", "created", "created_by"]
    readonly_fields = fields
    can_delete = False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Read-only: deployments change through the API, which runs the jobs that apply the change."""

    list_display = ["name", "runtime", "status", "current_revision", "created"]
    list_filter = ["runtime", "status"]
    inlines = [RevisionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "deployment", "created", "finished"]
    list_filter = ["kind", "status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["job", "counter", "event", "host", "task"]
    list_filter = ["event"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

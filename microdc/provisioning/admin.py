"""Provisioning in the admin: signing keys (admins); deployments, jobs and their events read-only, because
deployments change through the API, which runs the jobs that apply the change, and jobs are history."""

from django.contrib import admin

from microdc.core.admin import AuditedModelAdmin, PolicyInline
from microdc.core.roles import Role, has_role

from .models import Deployment, DeploymentRevision, Job, JobEvent, SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedModelAdmin):
    list_display = ["name", "created"]


class RevisionInline(PolicyInline):
    model = DeploymentRevision
    extra = 0
    fields = ["number", "artifact", "artifact_sha256", "port", "created", "created_by"]
    readonly_fields = fields

    def get_fields(self, request, obj=None):
        # An artifact URL can carry credentials or a signed query string, which viewers are not shown.
        return self.fields if has_role(request.user, Role.OPERATOR) else [f for f in self.fields if f != "artifact"]


@admin.register(Deployment)
class DeploymentAdmin(AuditedModelAdmin):
    list_display = ["name", "runtime", "status", "current_revision", "created"]
    list_filter = ["runtime", "status"]
    inlines = [RevisionInline]


@admin.register(Job)
class JobAdmin(AuditedModelAdmin):
    list_display = ["id", "kind", "status", "deployment", "created", "finished"]
    list_filter = ["kind", "status"]


@admin.register(JobEvent)
class JobEventAdmin(AuditedModelAdmin):
    list_display = ["job", "counter", "event", "host", "task"]
    list_filter = ["event"]

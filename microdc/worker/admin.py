"""Background task results in the admin under the one role policy: admins only, read-only (the worker writes
them). A task's arguments and tracebacks can name hosts and settings a viewer is not shown elsewhere."""

from django.contrib import admin
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from microdc.core.admin import AuditedModelAdmin

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(AuditedModelAdmin, DBTaskResultAdmin):
    pass

"""Base viewset for objects people change through the API: atomic writes with an audit record each."""

from django.db import transaction
from rest_framework import viewsets

from .. import audit


class AuditedModelViewSet(viewsets.ModelViewSet):
    """ModelViewSet whose create/update/delete run in one transaction with their audit record."""

    def perform_create(self, serializer):
        with transaction.atomic():
            instance = serializer.save()
            self._audit("create", instance, audit.diff(instance, {}, audit.snapshot(instance)))

    def perform_update(self, serializer):
        with transaction.atomic():
            before = audit.snapshot(serializer.instance)
            instance = serializer.save()
            changes = audit.diff(instance, before, audit.snapshot(instance))
            if changes:
                self._audit("update", instance, changes)

    def perform_destroy(self, instance):
        with transaction.atomic():
            self._audit("delete", instance, audit.diff(instance, audit.snapshot(instance), {}))
            instance.delete()

    def _audit(self, action, instance, changes):
        audit.record(
            actor=self.request.user,
            source="api",
            action=action,
            instance=instance,
            changes=changes,
            remote_addr=audit.client_address(self.request),
        )

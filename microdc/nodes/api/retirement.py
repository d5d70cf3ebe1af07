"""DELETE retires, `?purge=true` deletes with the history, `?retired=true|false` filters lists (default: live)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.exceptions import ValidationError

from microdc.core import audit

from .. import retirement

BOOLEANS = {"true": True, "1": True, "false": False, "0": False}

RETIRED_PARAMETER = OpenApiParameter(
    "retired", bool, description="true: only retired ones; false (default): only live ones")
PURGE_PARAMETER = OpenApiParameter(
    "purge", bool, description="true: delete it with its telemetry history (audited as a purge). Without it, "
                               "something with history is retired instead and keeps it.")


def boolean_param(request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in BOOLEANS:
        raise ValidationError({name: f"must be true or false, not {raw!r}"})
    return BOOLEANS[raw.lower()]


def retirable(viewset_class):
    """Document the parameters on a viewset that mixes in RetirableViewSetMixin."""
    return extend_schema_view(list=extend_schema(parameters=[RETIRED_PARAMETER]),
                              destroy=extend_schema(parameters=[PURGE_PARAMETER]))(viewset_class)


class RetirableViewSetMixin:
    """For an AuditedModelViewSet of a RetirableMixin model."""

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset  # a retired object's own page (and its history) stays reachable
        return queryset.retired() if boolean_param(self.request, "retired", False) else queryset.live()

    def perform_destroy(self, instance):
        purge = boolean_param(self.request, "purge", False)
        where = {"actor": self.request.user, "remote_addr": audit.client_address(self.request)}
        if purge or not retirement.history_size(instance):
            retirement.delete(instance, purge=purge, **where)
        elif not instance.retired:
            retirement.retire(instance, **where)

from django.db.models import Q
from django_filters import rest_framework as filters
from rest_framework import viewsets

from ..models import ModelServer
from .serializers import ModelServerSerializer


class ModelServerFilter(filters.FilterSet):
    stale = filters.BooleanFilter(method="filter_stale", label="Counters stale (failed or never scraped)")

    class Meta:
        model = ModelServer
        fields = ["deployment", "node", "runtime", "active"]

    def filter_stale(self, queryset, name, value):
        stale = ~Q(stale_reason="") | Q(last_success__isnull=True)
        return queryset.filter(stale) if value else queryset.exclude(stale)


class ModelServerViewSet(viewsets.ReadOnlyModelViewSet):
    """The model servers the worker scrapes (one per deployment and node), their health and latest counters."""

    queryset = ModelServer.objects.select_related("deployment", "node", "source").order_by("deployment__name",
                                                                                          "node__hostname")
    serializer_class = ModelServerSerializer
    filterset_class = ModelServerFilter
    ordering_fields = ["last_success", "consecutive_failures"]

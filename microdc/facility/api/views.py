from django_filters import rest_framework as filters

from microdc.core.api.viewsets import AuditedModelViewSet
from microdc.nodes.models import FacilityMeter

from .serializers import FacilityMeterSerializer


class FacilityMeterFilter(filters.FilterSet):
    site_slug = filters.CharFilter(field_name="site__slug")

    class Meta:
        model = FacilityMeter
        fields = ["site", "rack", "kind", "boundary", "protocol", "enabled", "simulated"]


class FacilityMeterViewSet(AuditedModelViewSet):
    queryset = FacilityMeter.objects.select_related("site", "rack")
    serializer_class = FacilityMeterSerializer
    filterset_class = FacilityMeterFilter
    search_fields = ["name", "host"]
    ordering_fields = ["name", "kind", "boundary"]

from django_filters import rest_framework as filters

from ..models import Accelerator, Node, Rack, Site


class SiteFilter(filters.FilterSet):
    class Meta:
        model = Site
        fields = ["name", "slug", "simulated"]


class RackFilter(filters.FilterSet):
    site_slug = filters.CharFilter(field_name="site__slug")

    class Meta:
        model = Rack
        fields = ["site", "name", "row", "simulated"]


class NodeFilter(filters.FilterSet):
    site = filters.NumberFilter(field_name="rack__site")
    site_slug = filters.CharFilter(field_name="rack__site__slug")
    accelerator_kind = filters.ChoiceFilter(
        field_name="accelerators__kind", choices=Accelerator.Kind.choices, distinct=True
    )

    class Meta:
        model = Node
        fields = ["rack", "status", "hostname", "simulated"]


class AcceleratorFilter(filters.FilterSet):
    site = filters.NumberFilter(field_name="node__rack__site")
    rack = filters.NumberFilter(field_name="node__rack")
    hostname = filters.CharFilter(field_name="node__hostname")

    class Meta:
        model = Accelerator
        fields = ["node", "kind", "vendor", "model", "uuid", "simulated"]

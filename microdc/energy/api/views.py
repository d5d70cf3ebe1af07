"""The energy app over HTTP: the scraped model servers, one deployment's energy over several windows, and the
pilot table (JSON or CSV)."""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from microdc.facility.pue import WINDOWS
from microdc.provisioning.models import Deployment

from .. import report
from ..models import ModelServer
from ..windows import Window, WindowError, resolve
from .renderers import PilotCsvRenderer
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

WINDOW_PARAMETERS = [
    OpenApiParameter("window", str, many=True, enum=list(WINDOWS),
                     description="Named windows (default 24h); or give start and end instead."),
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601 with offset, on a whole minute."),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601 with offset, on a whole minute."),
]


def _instant(request, name: str):
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: [f"not an ISO 8601 date and time: {text[:64]!r}"]})
    return value


def _windows(request, many: bool) -> list[Window]:
    """The windows asked for, or a 400 naming the parameter that was wrong."""
    names = request.query_params.getlist("window")
    start, end = _instant(request, "start"), _instant(request, "end")
    try:
        if start is not None or end is not None:
            if names:
                raise WindowError("give either window or start and end, not both")
            return [resolve(start=start, end=end)]
        if len(names) > 1 and not many:
            raise WindowError("one window at a time here")
        return [resolve(window=name) for name in dict.fromkeys(names or ["24h"])]
    except WindowError as error:
        raise ValidationError({"window" if names else "start": [str(error)]}) from error


class DeploymentEnergyView(APIView):
    """A deployment's energy, carbon and latency per window (JSON of energy.report.as_dict, base units)."""

    @extend_schema(parameters=WINDOW_PARAMETERS, responses={200: inline_serializer("DeploymentEnergy", {
        "deployment": serializers.IntegerField(), "results": serializers.ListField(child=serializers.DictField())})})
    def get(self, request, id):
        deployment = get_object_or_404(Deployment, pk=id)
        results = [report.as_dict(report.deployment_energy_over(deployment, w)) for w in _windows(request, many=True)]
        return Response({"deployment": deployment.pk, "results": results})


class PilotTableView(APIView):
    """Every deployment side by side over one window: the pilot table (`?format=csv` for a spreadsheet)."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, PilotCsvRenderer]

    @extend_schema(parameters=[*WINDOW_PARAMETERS,
                               OpenApiParameter("format", str, enum=["json", "csv"], description="default json")],
                   responses={(200, "application/json"): inline_serializer("PilotTable", {
                       "window": serializers.CharField(allow_null=True), "start": serializers.DateTimeField(),
                       "end": serializers.DateTimeField(),
                       "results": serializers.ListField(child=serializers.DictField())}),
                       (200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        (w,) = _windows(request, many=False)
        results = [report.as_dict(r) for r in report.pilot_table_over(w)]
        return Response({"window": w.label, "start": w.start.isoformat(), "end": w.end.isoformat(),
                         "results": results})

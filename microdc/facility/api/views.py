import dataclasses
import datetime

from django.db import transaction
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from microdc.core.api.viewsets import AuditedModelViewSet
from microdc.core.exceptions import Conflict
from microdc.nodes.api.retirement import RetirableViewSetMixin, retirable
from microdc.nodes.models import FacilityMeter, Site
from microdc.telemetry.models import Source

from ..cooling import site_cooling
from ..health import meter_status
from ..models import CarbonIntensity, MeterState
from ..poller import poll_meter
from ..pue import WINDOWS, site_pue
from ..readings import store_meter_readings
from ..sources.base import Reading
from .serializers import CarbonIntensitySerializer, FacilityMeterSerializer, PushedReadingsSerializer


class FacilityMeterFilter(filters.FilterSet):
    site_slug = filters.CharFilter(field_name="site__slug")

    class Meta:
        model = FacilityMeter
        fields = ["site", "rack", "kind", "boundary", "protocol", "enabled", "simulated"]


def latest_readings(meter: FacilityMeter) -> list[dict]:
    return [{"channel": s.sensor, "ts": s.last_ts, "values": s.last_values,
             "states": s.last_attributes.get("states", {}), "reasons": s.last_attributes.get("reasons", {})}
            for s in Source.objects.filter(meter=meter).order_by("sensor")]


@retirable
class FacilityMeterViewSet(RetirableViewSetMixin, AuditedModelViewSet):
    queryset = FacilityMeter.objects.select_related("site", "rack", "state")
    serializer_class = FacilityMeterSerializer
    filterset_class = FacilityMeterFilter
    search_fields = ["name", "host"]
    ordering_fields = ["name", "kind", "boundary"]

    @extend_schema(methods=["GET"], responses={200: inline_serializer("MeterReadings", {
        "health": serializers.DictField(), "channels": serializers.ListField()})})
    @extend_schema(methods=["POST"], request=PushedReadingsSerializer,
                   responses={202: inline_serializer("PushAccepted", {"stored": serializers.IntegerField()})})
    @action(detail=True, methods=["get", "post"])
    def readings(self, request, pk=None):
        """GET: the latest reading of each channel. POST (push meters, admins): store readings."""
        meter = self.get_object()
        if request.method == "GET":
            return Response({"health": meter_status(meter), "channels": latest_readings(meter)})
        _refuse_retired(meter)
        if meter.protocol != FacilityMeter.Protocol.PUSH:
            raise ValidationError({"protocol": f"{meter.name} is polled over {meter.protocol}; only push meters "
                                               "take readings through the API"})
        body = PushedReadingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        now = timezone.now()
        ts = body.validated_data.get("ts") or now
        readings = [Reading(**r) for r in body.validated_data["readings"]]
        with transaction.atomic():
            stored = store_meter_readings(meter, ts, readings)
            MeterState.objects.update_or_create(meter=meter, defaults={
                "last_attempt": now, "last_success": now, "last_error": "", "consecutive_failures": 0})
        return Response({"stored": len(readings), "rows": stored}, status=202)

    @extend_schema(request=None, responses={200: inline_serializer("PollOutcome", {
        "ok": serializers.BooleanField(), "readings": serializers.IntegerField(), "error": serializers.CharField(),
        "seconds": serializers.FloatField()})})
    @action(detail=True, methods=["post"])
    def poll(self, request, pk=None):
        """Read the meter now (admins), e.g. to check its settings; the answer says what went wrong."""
        meter = self.get_object()
        _refuse_retired(meter)
        if meter.protocol == FacilityMeter.Protocol.PUSH:
            raise ValidationError({"protocol": "push meters are not polled"})
        outcome = poll_meter(meter)
        return Response(dataclasses.asdict(outcome))


def _refuse_retired(meter: FacilityMeter) -> None:
    if meter.retired:
        raise Conflict(f"{meter.name} was retired on {meter.retired_at:%Y-%m-%d %H:%M} UTC: it is neither polled "
                       "nor takes readings; its history stays readable")


class CarbonIntensityViewSet(AuditedModelViewSet):
    queryset = CarbonIntensity.objects.all()
    serializer_class = CarbonIntensitySerializer
    filterset_fields = ["site"]
    ordering_fields = ["valid_from"]


def _jsonable(result) -> dict:
    data = dataclasses.asdict(result)
    for key, value in data.items():
        if isinstance(value, datetime.datetime):
            data[key] = value.isoformat()
    return data


def _site(request) -> Site:
    ref = request.query_params.get("site")
    sites = Site.objects.all()
    if ref:
        site = sites.filter(**({"pk": int(ref)} if ref.isdigit() else {"slug": ref})).first()
        if site is None:
            raise ValidationError({"site": f"no site {ref!r}"})
        return site
    if sites.count() == 1:
        return sites.get()
    raise ValidationError({"site": "this appliance has several sites; name one (id or slug)"})


class CoolingView(APIView):
    """Cooling units, per-rack temperatures and PDU load, and active alarms (leak, over-temperature...)."""

    @extend_schema(parameters=[OpenApiParameter("site", str, description="site id or slug")],
                   responses={200: inline_serializer("Cooling", {"cooling_units": serializers.ListField(),
                                                                 "racks": serializers.DictField(),
                                                                 "alarms": serializers.ListField()})})
    def get(self, request):
        return Response(site_cooling(_site(request)))


class PueView(APIView):
    """PUE, partial PUE (cooling), CUE and WUE of a site over the windows asked for (ISO/IEC 30134-2)."""

    @extend_schema(parameters=[
        OpenApiParameter("site", str, description="site id or slug (default: the only site)"),
        OpenApiParameter("window", str, many=True, enum=list(WINDOWS), description="default: all"),
    ], responses={200: inline_serializer("Pue", {"site": serializers.IntegerField(),
                                                 "results": serializers.ListField()})})
    def get(self, request):
        site = _site(request)
        windows = request.query_params.getlist("window") or list(WINDOWS)
        bad = [w for w in windows if w not in WINDOWS]
        if bad:
            raise ValidationError({"window": f"unknown {bad}; use {', '.join(WINDOWS)}"})
        return Response({"site": site.pk, "site_slug": site.slug,
                         "results": [_jsonable(site_pue(site, w)) for w in windows]})

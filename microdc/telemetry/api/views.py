import datetime
import json

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from microdc.nodes.authentication import NodeAgent, NodeTokenAuthentication
from microdc.nodes.models import Node

from ..batch import BatchError
from ..ingest import ingest_batch, record_rejection
from ..metrics_catalog import is_counter, unit_of
from ..models import Rollup, Sample, Source
from ..selectors import node_live_values

MAX_POINTS = 10_000


class IsNodeAgent(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, NodeAgent)


class TelemetryPushView(APIView):
    """Agents push telemetry batches here with their node token (`Authorization: Bearer <node token>`)."""

    authentication_classes = [NodeTokenAuthentication]
    permission_classes = [IsNodeAgent]

    @extend_schema(
        request=inline_serializer("TelemetryBatch", {"batch_id": serializers.UUIDField(),
                                                     "node": serializers.CharField(),
                                                     "samples": serializers.ListField(child=serializers.DictField())}),
        responses={202: inline_serializer("TelemetryAccepted", {"accepted": serializers.IntegerField(),
                                                                "duplicate": serializers.BooleanField()})},
    )
    def post(self, request):
        node = request.auth
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.MICRODC_TELEMETRY_MAX_BYTES:
            return Response({"detail": f"Batch of {length} bytes is larger than the "
                                       f"{settings.MICRODC_TELEMETRY_MAX_BYTES} bytes allowed; send smaller batches."},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        if request.content_type.split(";")[0].strip() != "application/json":
            return Response({"detail": "Content-Type must be application/json."},
                            status=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            record_rejection(node, f"malformed JSON: {exc}")
            return Response({"detail": f"Malformed JSON: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
        try:
            result = ingest_batch(node, payload)
        except BatchError as exc:
            record_rejection(node, str(exc))
            return Response({"detail": str(exc), "field": exc.where}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"accepted": result.accepted, "duplicate": result.duplicate,
                         "registered": list(result.registered)}, status=status.HTTP_202_ACCEPTED)


def _time_param(request, name: str, default: datetime.datetime) -> datetime.datetime:
    raw = request.query_params.get(name)
    if not raw:
        return default
    value = parse_datetime(raw)
    if value is None:
        raise ValidationError({name: f"not an ISO 8601 date-time: {raw!r}"})
    if not value.tzinfo:
        return timezone.make_aware(value, datetime.UTC)
    try:
        return value.astimezone(datetime.UTC)  # PostgreSQL refuses offsets beyond +-15:59
    except OverflowError:
        raise ValidationError({name: f"out of range: {raw!r}"}) from None


RESOLUTIONS = {"raw": 0, "1m": Rollup.MINUTE, "1h": Rollup.HOUR}


class HistoryView(APIView):
    """Time series of one metric: raw samples or 1-minute / 1-hour rollups (min/avg/max, counter increases)."""

    @extend_schema(parameters=[
        OpenApiParameter("metric", str, required=True, description="e.g. power_watts, energy_joules"),
        OpenApiParameter("node", str, description="node id or hostname"),
        OpenApiParameter("accelerator", int), OpenApiParameter("uuid", str), OpenApiParameter("meter", int),
        OpenApiParameter("sensor", str),
        OpenApiParameter("start", str, description="ISO 8601; default: 1 hour before end"),
        OpenApiParameter("end", str, description="ISO 8601; default: now"),
        OpenApiParameter("resolution", str, enum=["auto", *RESOLUTIONS]),
    ], responses={200: inline_serializer("History", {"series": serializers.ListField()})})
    def get(self, request):
        params = request.query_params
        metric = params.get("metric")
        if not metric:
            raise ValidationError({"metric": "required, e.g. metric=power_watts"})
        end = _time_param(request, "end", timezone.now())
        start = _time_param(request, "start", end - datetime.timedelta(hours=1))
        if start >= end:
            raise ValidationError({"start": "must be before end"})
        resolution = params.get("resolution", "auto")
        if resolution == "auto":
            span = (end - start).total_seconds()
            resolution = "raw" if span <= 3 * 3600 else "1m" if span <= 3 * 86400 else "1h"
        if resolution not in RESOLUTIONS:
            raise ValidationError({"resolution": f"one of auto, {', '.join(RESOLUTIONS)}"})

        sources = self._sources(params)
        series = [{"source": s.key, "node": s.node_id, "accelerator": s.accelerator_id, "meter": s.meter_id,
                   "sensor": s.sensor, "simulated": s.simulated, "metric": metric, "unit": unit_of(metric),
                   "resolution": resolution, "points": self._points(s, metric, resolution, start, end)}
                  for s in sources]
        if sum(len(s["points"]) for s in series) > MAX_POINTS:
            raise ValidationError({"resolution": f"more than {MAX_POINTS} points; choose a coarser resolution "
                                                 "or a shorter range"})
        return Response({"start": start, "end": end, "series": series})

    def _sources(self, params):
        sources = Source.objects.all()
        filtered = False
        if node := params.get("node"):
            sources = sources.filter(node_id=int(node)) if node.isdigit() else sources.filter(node__hostname=node)
            filtered = True
        for name, field in (("accelerator", "accelerator_id"), ("meter", "meter_id")):
            if value := params.get(name):
                if not value.isdigit():
                    raise ValidationError({name: "must be an id"})
                sources = sources.filter(**{field: int(value)})
                filtered = True
        if uuid := params.get("uuid"):
            sources, filtered = sources.filter(accelerator__uuid=uuid), True
        if sensor := params.get("sensor"):
            sources, filtered = sources.filter(sensor=sensor), True
        if not filtered:
            raise ValidationError({"node": "name a node, accelerator, uuid, meter or sensor"})
        return list(sources.order_by("key")[:256])

    @staticmethod
    def _points(source, metric, resolution, start, end):
        if resolution == "raw":
            reporter = {"meter_id": source.meter_id} if source.meter_id else {"node_id": source.node_id}
            rows = Sample.objects.filter(**reporter, ts__gte=start, ts__lt=end).order_by("ts")
            key = str(source.pk)
            points = []
            for ts, values in rows.values_list("ts", "values").iterator():
                value = values.get(key, {}).get(metric)
                if value is not None:
                    points.append({"t": ts, "value": value})
                    if len(points) > MAX_POINTS:
                        break
            return points
        rows = Rollup.objects.filter(source=source, resolution=RESOLUTIONS[resolution], start__gte=start,
                                     start__lt=end).order_by("start")
        points = []
        for bucket_start, coverage, stats in rows.values_list("start", "coverage", "stats")[:MAX_POINTS + 1]:
            stat = stats.get(metric)
            if stat is None:
                continue
            if is_counter(metric):
                points.append({"t": bucket_start, "increase": stat.get("delta", 0.0), "coverage": coverage})
            else:
                points.append({"t": bucket_start, "min": stat["min"], "avg": stat["sum"] / stat["n"],
                               "max": stat["max"], "coverage": coverage})
        return points


class LatestView(APIView):
    """Latest values of every source on a node (stale ones flagged)."""

    @extend_schema(parameters=[OpenApiParameter("node", str, required=True, description="id or hostname")],
                   responses={200: inline_serializer("Latest", {"sources": serializers.ListField()})})
    def get(self, request):
        ref = request.query_params.get("node", "")
        if not ref:
            raise ValidationError({"node": "required (id or hostname)"})
        node = Node.objects.filter(**({"pk": int(ref)} if ref.isdigit() else {"hostname": ref})).first()
        if node is None:
            raise ValidationError({"node": f"no node {ref!r}"})
        return Response({"node": node.pk, "hostname": node.hostname, "sources": node_live_values(node)})

import datetime

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
from microdc.power.selectors import desired_for_node

from ..batch import BatchError
from ..ingest import ingest_batch, record_rejection
from ..metrics_catalog import is_counter, unit_of
from ..models import Rollup, Sample, Source
from ..rollup_claims import pending_since
from ..selectors import node_live_values
from ..wire import decode_batch


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
                                                                "duplicate": serializers.BooleanField(),
                                                                "registered": serializers.ListField(),
                                                                "power_limits": serializers.DictField()})},
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
        now = timezone.now()
        try:
            try:
                batch = decode_batch(request.body, now)
            except BatchError:
                raise
            except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError; RecursionError: too deep
                record_rejection(node, f"malformed JSON: {exc}")
                return Response({"detail": f"Malformed JSON: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
            result = ingest_batch(node, batch, now)
        except BatchError as exc:
            record_rejection(node, str(exc))
            return Response({"detail": str(exc), "field": exc.where}, status=status.HTTP_400_BAD_REQUEST)
        # The desired power limits ride on the answer: nodes need no inbound port (microdc.agent.power_limits).
        return Response({"accepted": result.accepted, "duplicate": result.duplicate,
                         "registered": list(result.registered), "power_limits": desired_for_node(node.pk)},
                        status=status.HTTP_202_ACCEPTED)


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


def _raw_limit_hours() -> float:
    """Longest span raw samples are served for: the raw-span limit, and never beyond what is kept."""
    return min(settings.MICRODC_HISTORY_RAW_MAX_HOURS, settings.MICRODC_RAW_RETENTION_HOURS)


def _auto_resolution(start: datetime.datetime, end: datetime.datetime) -> str:
    span = (end - start).total_seconds()
    raw_kept_since = timezone.now() - datetime.timedelta(hours=settings.MICRODC_RAW_RETENTION_HOURS)
    if span <= _raw_limit_hours() * 3600 and start >= raw_kept_since:
        return "raw"
    return "1m" if span <= 3 * 86400 else "1h"


def _check_raw_span(start: datetime.datetime, end: datetime.datetime) -> None:
    limit = _raw_limit_hours()
    if (end - start).total_seconds() > limit * 3600:
        raise ValidationError({"resolution": f"raw samples are served for spans of at most {limit:g} hours; "
                                             f"use resolution=1m (or auto) for longer spans, or narrow start/end"})
    retention = settings.MICRODC_RAW_RETENTION_HOURS
    if start < timezone.now() - datetime.timedelta(hours=retention):
        raise ValidationError({"start": f"raw samples are kept for {retention} hours only; use resolution=1m "
                                        f"(or auto) for older data, or move start within the last {retention} hours"})


def _too_many_points() -> ValidationError:
    limit = settings.MICRODC_HISTORY_MAX_POINTS
    return ValidationError({"resolution": f"more than {limit} points; use a coarser resolution (1m or 1h), "
                                          "narrow start/end, or name fewer sources"})


def _raw_points(sources, metric, start, end) -> dict[int, list]:
    """Points of every source from raw samples, reading each reporter's samples once.

    The rows are counted (up to the limit) before any is decoded: a sample row holds every source of its reporter,
    so rows x sources bounds the points, and a request over the limit is refused without decoding anything."""
    limit = settings.MICRODC_HISTORY_MAX_POINTS
    by_reporter: dict[tuple[str, int], list] = {}
    for source in sources:
        reporter = ("meter_id", source.meter_id) if source.meter_id else ("node_id", source.node_id)
        by_reporter.setdefault(reporter, []).append(source)
    rows_of = {reporter: Sample.objects.filter(**{reporter[0]: reporter[1]}, ts__gte=start, ts__lt=end)
               for reporter in by_reporter}
    budget = limit
    for reporter, rows in rows_of.items():
        reporting = len(by_reporter[reporter])
        counted = rows[:budget // reporting + 1].count()
        budget -= counted * reporting
        if budget < 0:
            raise _too_many_points()
    points: dict[int, list] = {source.pk: [] for source in sources}
    for reporter, rows in rows_of.items():
        keys = [(str(source.pk), points[source.pk]) for source in by_reporter[reporter]]
        for ts, values in rows.order_by("ts").values_list("ts", "values").iterator():
            for key, series in keys:
                value = values.get(key, {}).get(metric)
                if value is not None:
                    series.append({"t": ts, "value": value})
    return points


def _rollup_points(sources, metric, resolution, start, end) -> dict[int, list]:
    """Points of every source from its rollups; stops reading as soon as the request passes the point limit.

    Only buckets holding `metric` are read, so every row read is a point and no more than limit + 1 are decoded."""
    budget = settings.MICRODC_HISTORY_MAX_POINTS
    points: dict[int, list] = {}
    for source in sources:
        rows = Rollup.objects.filter(source=source, resolution=resolution, start__gte=start, start__lt=end,
                                     stats__has_key=metric).order_by("start")
        points[source.pk] = series = []
        for bucket_start, coverage, stats in rows.values_list("start", "coverage", "stats")[:budget + 1]:
            stat = stats[metric]
            if is_counter(metric):
                series.append({"t": bucket_start, "increase": stat.get("delta", 0.0), "coverage": coverage})
            else:
                series.append({"t": bucket_start, "min": stat["min"], "avg": stat["sum"] / stat["n"],
                               "max": stat["max"], "coverage": coverage})
        budget -= len(series)
        if budget < 0:
            raise _too_many_points()
    return points


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
            resolution = _auto_resolution(start, end)
        if resolution not in RESOLUTIONS:
            raise ValidationError({"resolution": f"one of auto, {', '.join(RESOLUTIONS)}"})
        if resolution == "raw":
            _check_raw_span(start, end)

        sources = self._sources(params)
        points = (_raw_points(sources, metric, start, end) if resolution == "raw"
                  else _rollup_points(sources, metric, RESOLUTIONS[resolution], start, end))
        series = [{"source": s.key, "node": s.node_id, "accelerator": s.accelerator_id, "meter": s.meter_id,
                   "sensor": s.sensor, "simulated": s.simulated, "metric": metric, "unit": unit_of(metric),
                   "resolution": resolution, "points": points[s.pk]}
                  for s in sources]
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


FAILING_SHOWN = 100


class RollupStatusView(APIView):
    """How far rollups are behind: sources with samples not rolled up yet, and the ones whose rollup fails
    (retried with backoff; their raw samples are kept until they are rolled up)."""

    @extend_schema(responses={200: inline_serializer("RollupStatus", {
        "pending_sources": serializers.IntegerField(), "oldest_pending": serializers.DateTimeField(allow_null=True),
        "claimed_sources": serializers.IntegerField(), "failing_sources": serializers.IntegerField(),
        "failing": serializers.ListField(child=serializers.DictField())})})
    def get(self, request):
        now = timezone.now()
        pending = Source.objects.annotate(pending=pending_since()).filter(pending__isnull=False)
        failing = pending.filter(rollup_failures__gt=0)
        oldest = pending.order_by("pending").values_list("pending", flat=True).first()
        return Response({
            "pending_sources": pending.count(),
            "oldest_pending": oldest,
            "claimed_sources": pending.filter(rollup_lease_until__gte=now).count(),
            "failing_sources": failing.count(),
            "failing": [{"source": s.key, "node": s.node_id, "accelerator": s.accelerator_id, "meter": s.meter_id,
                         "pending_since": s.pending, "failures": s.rollup_failures, "last_error": s.rollup_error,
                         "next_attempt": s.rollup_retry_at}
                        for s in failing.order_by("-rollup_failures", "pk")[:FAILING_SHOWN]],
        })

"""The alerts app over HTTP: alerts (and acknowledging them), silences, rules, receivers and the delivery log."""

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from microdc.core.api.viewsets import AuditedModelViewSet
from microdc.core.audit import client_address
from microdc.core.roles import Role

from .. import silencing
from ..acknowledge import AcknowledgeError, acknowledge
from ..models import Alert, AlertRule, Notification, Receiver, Silence
from .filters import AlertFilter, NotificationFilter, SilenceFilter
from .serializers import (
    AcknowledgeSerializer,
    AlertRuleSerializer,
    AlertSerializer,
    NotificationSerializer,
    ReceiverSerializer,
    SilenceSerializer,
)

# Open first, worst first, newest first: the order a wall screen shows them.
ORDER = [Case(When(state=Alert.State.RESOLVED, then=Value(1)), default=Value(0), output_field=IntegerField()),
         Case(When(severity="critical", then=Value(0)), When(severity="warning", then=Value(1)), default=Value(2),
              output_field=IntegerField()),
         "-active_at", "-id"]


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alert instances, current and past. `?open=true` for what is going on now."""

    queryset = Alert.objects.select_related("acknowledged_by").order_by(*ORDER)
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    action_roles = {"ack": Role.VIEWER}

    @extend_schema(request=AcknowledgeSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def ack(self, request, pk=None):
        """Acknowledge (viewers and up): it stays until resolved, and stops repeating notifications."""
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            alert = acknowledge(self.get_object(), request.user, body.validated_data["comment"],
                                client_address(request))
        except AcknowledgeError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(AlertSerializer(alert, context=self.get_serializer_context()).data)


class SilenceViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                     viewsets.ReadOnlyModelViewSet):
    """Silences mute the notifications of the alerts their matchers all match, from starts_at to ends_at.
    DELETE ends one now (it is kept, expired)."""

    queryset = Silence.objects.select_related("created_by").order_by("-ends_at", "-id")
    serializer_class = SilenceSerializer
    filterset_class = SilenceFilter

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, user=self.request.user, remote_addr=client_address(self.request), **kwargs)
        except silencing.SilenceError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = self._call(silencing.create, matchers=data["matchers"],
                                         starts_at=data.get("starts_at") or timezone.now(), ends_at=data["ends_at"],
                                         comment=data["comment"])

    def perform_update(self, serializer):
        serializer.instance = self._call(silencing.update, serializer.instance, **serializer.validated_data)

    def destroy(self, request, *args, **kwargs):
        silence = self._call(silencing.expire, self.get_object())
        return Response(SilenceSerializer(silence).data, status=status.HTTP_200_OK)


class AlertRuleViewSet(AuditedModelViewSet):
    """Built-in rules (threshold, durations, severity and whether they run may change) and admin-defined
    threshold rules on any metric of a scope."""

    queryset = AlertRule.objects.order_by("-builtin", "key")
    serializer_class = AlertRuleSerializer
    filterset_fields = ["builtin", "enabled", "scope", "severity"]

    def destroy(self, request, *args, **kwargs):
        rule = self.get_object()
        if rule.builtin:
            return Response({"detail": "a built-in rule cannot be deleted; set enabled to false"},
                            status=status.HTTP_409_CONFLICT)
        return super().destroy(request, *args, **kwargs)


class ReceiverViewSet(AuditedModelViewSet):
    """Where notifications go (admins): webhook, e-mail or an Alertmanager, with routing and grouping."""

    queryset = Receiver.objects.order_by("name")
    serializer_class = ReceiverSerializer
    filterset_fields = ["kind", "enabled"]


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """The delivery log (admins): each message, its state and every attempt."""

    queryset = (Notification.objects.select_related("receiver").prefetch_related("delivery_attempts")
                .order_by("-created", "-id"))
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter

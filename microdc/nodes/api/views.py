from django.db import transaction
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from microdc.core import audit
from microdc.core.api.viewsets import AuditedModelViewSet

from .. import agent_tokens
from ..models import Accelerator, Node, Rack, Site
from ..placement import validate_placement
from .filters import AcceleratorFilter, NodeFilter, RackFilter, SiteFilter
from .retirement import RetirableViewSetMixin, retirable
from .serializers import (
    AcceleratorSerializer,
    AgentTokenSerializer,
    NewNodeSerializer,
    NodeSerializer,
    RackSerializer,
    SiteSerializer,
)


class SiteViewSet(AuditedModelViewSet):
    queryset = Site.objects.all()
    serializer_class = SiteSerializer
    filterset_class = SiteFilter
    search_fields = ["name", "slug", "description", "address"]
    ordering_fields = ["name", "slug"]


class RackViewSet(AuditedModelViewSet):
    queryset = Rack.objects.select_related("site")
    serializer_class = RackSerializer
    filterset_class = RackFilter
    search_fields = ["name", "row"]
    ordering_fields = ["name", "row", "position", "height_u"]


@retirable
class NodeViewSet(RetirableViewSetMixin, AuditedModelViewSet):
    # A node lists the accelerators it has now; retired ones keep their own records.
    queryset = Node.objects.select_related("rack__site").prefetch_related(
        Prefetch("accelerators", queryset=Accelerator.objects.live()))
    serializer_class = NodeSerializer
    filterset_class = NodeFilter
    search_fields = ["hostname", "management_address", "description"]
    ordering_fields = ["hostname", "position_u", "status", "created"]

    @extend_schema(responses={201: NewNodeSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            self._lock_rack_and_recheck(serializer)
            super().perform_create(serializer)
            key = agent_tokens.issue_agent_token(serializer.instance)
        body = NewNodeSerializer(serializer.instance, context=self.get_serializer_context()).data
        return Response(body | {"agent_token": key}, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        with transaction.atomic():
            self._lock_rack_and_recheck(serializer)
            super().perform_update(serializer)

    @staticmethod
    def _lock_rack_and_recheck(serializer):
        # Two requests validated against the same free units must not both land: serialise on the rack row.
        data, instance = serializer.validated_data, serializer.instance
        rack = data.get("rack", instance.rack if instance else None)
        Rack.objects.select_for_update().filter(pk=rack.pk).first()
        validate_placement(
            rack,
            data.get("position_u", instance.position_u if instance else None),
            data.get("height_u", instance.height_u if instance else 1),
            exclude_pk=instance.pk if instance else None,
        )

    @extend_schema(request=None, responses={200: AgentTokenSerializer})
    @action(detail=True, methods=["post"], url_path="agent-token")
    def agent_token(self, request, pk=None):
        """Issue a new agent token for the node (the old one stops working). Shown once."""
        node = self.get_object()
        with transaction.atomic():
            key = agent_tokens.issue_agent_token(node)
            audit.record(actor=request.user, source="api", action="action", instance=node,
                         changes={"agent_token_hash": {"old": audit.MASK, "new": audit.MASK}},
                         remote_addr=audit.client_address(request))
        return Response({"agent_token": key})


@retirable
class AcceleratorViewSet(RetirableViewSetMixin, AuditedModelViewSet):
    queryset = Accelerator.objects.select_related("node")
    serializer_class = AcceleratorSerializer
    filterset_class = AcceleratorFilter
    search_fields = ["model", "uuid", "serial", "node__hostname"]
    ordering_fields = ["index", "model", "vendor"]

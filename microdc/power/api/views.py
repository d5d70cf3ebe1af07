"""Power caps over HTTP: one accelerator, every accelerator of a node, or every accelerator a deployment holds.

PUT {"watts": N, "reason": "..."} sets an operator's cap, DELETE clears it (back to the device's default, or to
a policy's cap where one holds). Operators and admins change caps; everyone reads them."""

from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from microdc.core.audit import client_address
from microdc.core.roles import Role
from microdc.energy.models import Reservation
from microdc.nodes.models import Accelerator, Node, Site
from microdc.provisioning.models import Deployment

from ..capacity import site_capacities
from ..caps import LimitError, set_operator_limit
from ..models import CapSweep, PowerLimitChange
from ..selectors import limit_view
from ..tuning import SweepError, cancel, start_sweep
from .serializers import (
    CapacitySerializer,
    CapSweepRequestSerializer,
    CapSweepSerializer,
    PowerLimitChangeSerializer,
    PowerLimitRequestSerializer,
    PowerLimitViewSerializer,
)


class _PowerLimitView(APIView):
    read_role = Role.VIEWER
    write_role = Role.OPERATOR

    def accelerators(self, id: int) -> list[Accelerator]:
        raise NotImplementedError

    def _answer(self, accelerators: list[Accelerator], code=status.HTTP_200_OK) -> Response:
        return Response([limit_view(a) for a in accelerators], status=code)

    @extend_schema(responses=PowerLimitViewSerializer(many=True))
    def get(self, request, id: int):
        return self._answer(self.accelerators(id))

    @extend_schema(request=PowerLimitRequestSerializer, responses=PowerLimitViewSerializer(many=True))
    def put(self, request, id: int):
        body = PowerLimitRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._change(request, id, body.validated_data["watts"], body.validated_data["reason"])

    @extend_schema(request=None, responses=PowerLimitViewSerializer(many=True))
    def delete(self, request, id: int):
        return self._change(request, id, None, "cleared")

    def _change(self, request, id: int, watts, reason: str) -> Response:
        accelerators = self.accelerators(id)
        try:
            set_operator_limit(accelerators, watts, actor=request.user, reason=reason,
                               remote_addr=client_address(request))
        except LimitError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        return self._answer(accelerators)


class AcceleratorPowerLimitView(_PowerLimitView):
    def accelerators(self, id):
        return [get_object_or_404(Accelerator.objects.select_related("node"), pk=id)]


class NodePowerLimitView(_PowerLimitView):
    def accelerators(self, id):
        node = get_object_or_404(Node, pk=id)
        return list(node.accelerators.live().select_related("node").order_by("index"))


class DeploymentPowerLimitView(_PowerLimitView):
    """The accelerators the deployment holds now (its open reservations)."""

    def accelerators(self, id):
        deployment = get_object_or_404(Deployment, pk=id)
        held = (Reservation.objects.filter(deployment=deployment, end__isnull=True, accelerator__isnull=False)
                .values_list("accelerator", flat=True))
        return list(Accelerator.objects.live().filter(pk__in=held).select_related("node")
                    .order_by("node__hostname", "index"))


class PowerLimitChangeFilter(filters.FilterSet):
    node = filters.NumberFilter(field_name="accelerator__node")

    class Meta:
        model = PowerLimitChange
        fields = ["accelerator", "node", "policy"]


class PowerLimitChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Every change of a desired power limit: before, after, who (or which policy) and why."""

    queryset = PowerLimitChange.objects.select_related("accelerator").order_by("-at", "-id")
    serializer_class = PowerLimitChangeSerializer
    filterset_class = PowerLimitChangeFilter


class CapacityView(APIView):
    """Each limit of the room (breakers, PDUs, UPSes, cooling units, the contracted feed) with its measured load,
    headroom and worst case; `?site=<id or slug>` narrows to one site."""

    read_role = Role.VIEWER

    @extend_schema(responses=CapacitySerializer(many=True))
    def get(self, request):
        sites = Site.objects.all()
        if wanted := request.query_params.get("site"):
            sites = sites.filter(pk=int(wanted)) if wanted.isdigit() else sites.filter(slug=wanted)
            if not sites.exists():
                raise ValidationError({"site": [f"no site {wanted!r}"]})
        return Response([c.as_dict() for site in sites for c in site_capacities(site)])


class DeploymentCapSweepView(APIView):
    """Start a sweep of the deployment's power cap (operators): the result shows on /api/v1/cap-sweeps/<id>/."""

    read_role = Role.VIEWER
    write_role = Role.OPERATOR

    @extend_schema(request=CapSweepRequestSerializer, responses={201: CapSweepSerializer})
    def post(self, request, id: int):
        deployment = get_object_or_404(Deployment, pk=id)
        body = CapSweepRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            sweep = start_sweep(deployment, actor=request.user, **body.validated_data)
        except SweepError as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        return Response(CapSweepSerializer(sweep).data, status=status.HTTP_201_CREATED)


class CapSweepViewSet(viewsets.ReadOnlyModelViewSet):
    """Energy-optimal cap sweeps: each step's cap, J per generated token and tokens/s, and the proposal."""

    queryset = CapSweep.objects.order_by("-created", "-id")
    serializer_class = CapSweepSerializer
    filterset_fields = ["deployment", "status"]
    action_roles = {"cancel": Role.OPERATOR}

    @extend_schema(request=None, responses=CapSweepSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        sweep = self.get_object()
        if sweep.status not in CapSweep.ACTIVE:
            return Response({"detail": f"the sweep is {sweep.status}"}, status=status.HTTP_409_CONFLICT)
        cancel(sweep)
        return Response(CapSweepSerializer(sweep).data)

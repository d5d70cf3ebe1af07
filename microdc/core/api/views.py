import datetime

from django.db import transaction
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import admins, audit, throttles, tokens
from ..models import ApiToken, AuditEvent, User
from ..roles import Role, has_role
from .serializers import (
    ApiTokenSerializer,
    AuditEventSerializer,
    NewApiTokenSerializer,
    ObtainTokenSerializer,
    UserSerializer,
)
from .viewsets import AuditedModelViewSet


class UserViewSet(AuditedModelViewSet):
    queryset = User.objects.order_by("username")
    serializer_class = UserSerializer
    filterset_fields = ["role", "is_active"]
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username", "date_joined", "last_login"]

    def perform_update(self, serializer):
        user, data = serializer.instance, serializer.validated_data
        with transaction.atomic():
            if not admins.is_admin(role=data.get("role", user.role), is_active=data.get("is_active", user.is_active),
                                   is_superuser=user.is_superuser):
                admins.keep_an_admin([user.pk])
            super().perform_update(serializer)

    def perform_destroy(self, instance):
        with transaction.atomic():
            admins.keep_an_admin([instance.pk])
            super().perform_destroy(instance)


class ObtainTokenView(APIView):
    """Exchange a username and password for an API token (`Authorization: Token <key>`)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return "Token"  # a wrong password is a 401 with a challenge, not a 403

    @extend_schema(request=ObtainTokenSerializer, responses={201: NewApiTokenSerializer})
    def post(self, request):
        serializer = ObtainTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = throttles.authenticate(request, data["username"], data["password"])
        except throttles.LoginThrottled as exc:
            raise Throttled(wait=exc.wait, detail=str(exc)) from None
        if user is None:
            raise AuthenticationFailed("Wrong username or password.")
        return _issue(request, user, data.get("name", ""), data.get("expires"))


def _issue(request, user, name, expires):
    with transaction.atomic():
        token, key = tokens.issue_token(user, name=name, expires=expires)
        audit.record(actor=user, source="api", action="create", instance=token,
                     changes={"name": {"old": None, "new": name}, "key_hash": {"old": None, "new": audit.MASK}},
                     remote_addr=audit.client_address(request))
    body = NewApiTokenSerializer(token).data | {"key": key}
    return Response(body, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """Your API tokens (admins: everyone's). DELETE revokes; the key itself is never shown again."""

    # Anyone may manage their own tokens (a viewer's read-only script needs one too): see get_queryset.
    queryset = ApiToken.objects.select_related("user")
    serializer_class = ApiTokenSerializer
    filterset_fields = ["user"]
    search_fields = ["name", "key_id"]

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        if has_role(self.request.user, Role.ADMIN):
            return queryset
        return queryset.filter(user=self.request.user)

    @extend_schema(request=ObtainTokenSerializer(partial=True), responses={201: NewApiTokenSerializer})
    def create(self, request):
        """Create another token for yourself (name, optional expiry)."""
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _issue(request, request.user, serializer.validated_data.get("name", ""),
                      serializer.validated_data.get("expires"))

    def perform_destroy(self, instance):
        with transaction.atomic():
            tokens.revoke(instance)
            audit.record(actor=self.request.user, source="api", action="update", instance=instance,
                         changes={"revoked": {"old": None, "new": instance.revoked.isoformat()}},
                         remote_addr=audit.client_address(self.request))

    @extend_schema(request=None, responses={200: ApiTokenSerializer})
    @action(detail=False, methods=["get"])
    def current(self, request):
        """The token this request authenticated with (404 for session logins)."""
        if not isinstance(request.auth, ApiToken):
            return Response({"detail": "This request did not use an API token."}, status=404)
        return Response(ApiTokenSerializer(request.auth).data)


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    """ISO 8601 with any offset ISO allows, compared in UTC: PostgreSQL refuses offsets beyond +-15:59."""

    def __init__(self, *args, param: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.param = param  # the query parameter, to name it in the 400

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)
            except OverflowError:
                raise ValidationError({self.param: "date-time out of range"}) from None
        return super().filter(qs, value)


class AuditEventFilter(filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", param="since")
    until = UtcIsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", param="until")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "source", "object_type", "object_id"]


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    search_fields = ["actor_name", "object_repr"]
    ordering_fields = ["timestamp"]


class MeView(APIView):
    """Who am I: the authenticated user and role."""

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)

from django.db.models import Q
from django.utils import timezone
from django_filters import rest_framework as filters

from ..models import Alert, Notification, Severity, Silence


class AlertFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=Alert.State.choices)
    severity = filters.MultipleChoiceFilter(choices=Severity.choices)
    site = filters.CharFilter(method="filter_site", label="Site id or slug")
    acknowledged = filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)
    open = filters.BooleanFilter(method="filter_open", label="Open (pending, firing or missing data)")
    alertname = filters.CharFilter(field_name="labels__alertname")

    class Meta:
        model = Alert
        fields = ["state", "severity", "site", "acknowledged", "rule", "fingerprint"]

    def filter_site(self, queryset, name, value):
        wanted = Q(site__slug=value) | Q(labels__site=value)  # alerts of things without a site row keep the label
        if value.isdigit():
            wanted |= Q(site__pk=int(value))
        return queryset.filter(wanted)

    def filter_open(self, queryset, name, value):
        return queryset.filter(state__in=Alert.OPEN_STATES) if value else queryset.filter(state=Alert.State.RESOLVED)


class SilenceFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=[("active", "active"), ("pending", "pending"), ("expired", "expired")],
                                  method="filter_status")

    class Meta:
        model = Silence
        fields = ["status"]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        if value == "expired":
            return queryset.filter(ends_at__lte=now)
        if value == "pending":
            return queryset.filter(starts_at__gt=now, ends_at__gt=now)
        return queryset.filter(starts_at__lte=now, ends_at__gt=now)


class NotificationFilter(filters.FilterSet):
    class Meta:
        model = Notification
        fields = ["status", "receiver", "alert_status"]

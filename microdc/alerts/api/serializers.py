import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from rest_framework import serializers

from ..labels import LABEL_NAME, MatcherError, validate_matchers
from ..metrics import known_metrics
from ..models import Alert, AlertRule, DeliveryAttempt, Notification, Receiver, Silence
from ..silences import active_silences, silenced_by

BUILTIN_EDITABLE = {"threshold", "for_seconds", "keep_firing_for_seconds", "severity", "enabled"}


class AlertSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    silenced_by = serializers.SerializerMethodField(help_text="Ids of the active silences muting it.")
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "fingerprint", "rule", "labels", "annotations", "summary", "severity", "state", "value",
                  "site", "url", "active_at", "starts_at", "ends_at", "last_evaluated_at", "nodata_since",
                  "acknowledged_at", "acknowledged_by", "acknowledgement_comment", "silenced_by", "updated"]
        read_only_fields = fields

    def get_summary(self, alert) -> str:
        return alert.annotations.get("summary", "")

    def get_silenced_by(self, alert) -> list[int]:
        silences = self.context.setdefault("_silences", active_silences())
        return silenced_by(alert.labels, silences)


class AcknowledgeSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def _matchers(value, field="matchers"):
    try:
        return validate_matchers(value, field)
    except MatcherError as exc:
        raise serializers.ValidationError(str(exc)) from None


class SilenceSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = ["id", "matchers", "starts_at", "ends_at", "comment", "created_by", "created", "updated", "status"]
        read_only_fields = ["created_by", "created", "updated", "status"]

    def get_status(self, silence) -> str:
        return silence.status()


class AlertRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertRule
        fields = ["id", "key", "name", "description", "builtin", "enabled", "severity", "scope", "metric",
                  "operator", "threshold", "for_seconds", "keep_firing_for_seconds", "window", "matchers", "labels",
                  "summary", "created", "updated"]
        read_only_fields = ["builtin", "created", "updated"]

    def validate_matchers(self, value):
        return _matchers(value)

    def validate_labels(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and LABEL_NAME.match(k) and isinstance(v, str)
                                                  and len(v) <= 200 for k, v in value.items()):
            raise serializers.ValidationError('must be an object of label names to strings: {"team": "facilities"}')
        if {"alertname", "severity"} & set(value):
            raise serializers.ValidationError("alertname and severity come from the rule itself")
        return value

    def validate_window(self, value):
        from microdc.facility.pue import WINDOWS

        if value and value not in WINDOWS:
            raise serializers.ValidationError(f"one of {', '.join(WINDOWS)}")
        return value

    def validate(self, attrs):
        rule = self.instance
        if rule is not None and rule.builtin:
            refused = sorted(k for k, v in attrs.items() if k not in BUILTIN_EDITABLE and getattr(rule, k) != v)
            if refused:
                raise serializers.ValidationError({k: "a built-in rule's condition is fixed; change its threshold, "
                                                      "durations, severity or whether it runs" for k in refused})
            return attrs
        scope = attrs.get("scope", rule.scope if rule else None)
        metric = attrs.get("metric", rule.metric if rule else None)
        if scope and metric is not None:
            known = known_metrics(scope)
            if metric not in known:
                close = sorted(m for m in known if _similar(m, metric))[:5]
                hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"
                raise serializers.ValidationError({"metric": f"{metric!r} is not a {scope} metric the appliance "
                                                             f"stores or computes{hint}"})
        if attrs.get("threshold", rule.threshold if rule else None) is None:
            raise serializers.ValidationError({"threshold": "an admin rule compares with a threshold"})
        return attrs


def _similar(a: str, b: str) -> bool:
    words = set(re.split(r"[_]", b))
    return bool(words & set(a.split("_")) - {"total", "ratio", "watts", "seconds"}) or a.startswith(b[:4])


class ReceiverSerializer(serializers.ModelSerializer):
    secret = serializers.JSONField(write_only=True, required=False,
                                   help_text='Webhook: {"hmac_key"}; Alertmanager: {"bearer_token"} or '
                                             '{"username", "password"}. Write-only.')
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Receiver
        fields = ["id", "name", "kind", "enabled", "url", "email_to", "secret", "has_secret", "severities",
                  "matchers", "group_by", "group_wait_seconds", "group_interval_seconds", "repeat_interval_seconds",
                  "send_resolved", "timeout_seconds", "created", "updated"]
        read_only_fields = ["created", "updated"]

    def get_has_secret(self, receiver) -> bool:
        return bool(receiver.secret)

    def validate_url(self, value):
        if value and not re.match(r"^https?://", value):
            raise serializers.ValidationError("must be an http:// or https:// URL")
        return value

    def validate_email_to(self, value):
        if not isinstance(value, list) or len(value) > 50:
            raise serializers.ValidationError("must be a list of e-mail addresses")
        for address in value:
            try:
                validate_email(address)
            except (DjangoValidationError, TypeError):
                raise serializers.ValidationError(f"{address!r} is not an e-mail address") from None
        return value

    def validate_severities(self, value):
        from ..models import Severity

        if not isinstance(value, list) or not set(value) <= set(Severity.values):
            raise serializers.ValidationError(f"a list of {', '.join(Severity.values)}")
        return value

    def validate_matchers(self, value):
        return _matchers(value)

    def validate_group_by(self, value):
        if not isinstance(value, list) or not all(isinstance(n, str) and LABEL_NAME.match(n) for n in value):
            raise serializers.ValidationError('a list of label names, e.g. ["alertname", "site"]')
        return value

    def validate_secret(self, value):
        allowed = {"hmac_key", "bearer_token", "username", "password"}
        if not isinstance(value, dict) or not set(value) <= allowed or \
                not all(isinstance(v, str) and len(v) <= 500 for v in value.values()):
            raise serializers.ValidationError(f"an object of strings with keys among {', '.join(sorted(allowed))}")
        return value

    def validate(self, attrs):
        get = lambda name: attrs.get(name, getattr(self.instance, name) if self.instance else None)  # noqa: E731
        kind = get("kind")
        if kind in (Receiver.Kind.WEBHOOK, Receiver.Kind.ALERTMANAGER) and not get("url"):
            raise serializers.ValidationError({"url": f"a {kind} receiver needs a URL"})
        if kind == Receiver.Kind.EMAIL and not get("email_to"):
            raise serializers.ValidationError({"email_to": "an e-mail receiver needs at least one address"})
        return attrs


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "ok", "status_code", "error", "duration_seconds"]


class NotificationSerializer(serializers.ModelSerializer):
    receiver = serializers.SlugRelatedField(slug_field="name", read_only=True)
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "receiver", "group_key", "alert_status", "fingerprints", "status", "attempts",
                  "next_attempt_at", "last_error", "created", "delivered_at", "payload", "delivery_attempts"]
        read_only_fields = fields

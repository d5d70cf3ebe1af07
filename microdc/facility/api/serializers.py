from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from microdc.nodes.models import FacilityMeter
from microdc.telemetry.batch import MAX_CLOCK_SKEW, MAX_MAGNITUDE, OLDEST_ACCEPTED

from ..health import meter_status
from ..models import CarbonIntensity
from ..sources.base import QUANTITIES, STATES, SettingsError, get_source


class FacilityMeterSerializer(serializers.ModelSerializer):
    secret = serializers.JSONField(
        write_only=True, required=False, help_text="Credentials (password, SNMPv3 keys, token); never returned."
    )
    has_secret = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    site_slug = serializers.CharField(source="site.slug", read_only=True)

    class Meta:
        model = FacilityMeter
        fields = ["id", "site", "site_slug", "rack", "name", "kind", "boundary", "it_measurement_point",
                  "boundary_channel", "protocol", "host", "port", "settings", "secret", "has_secret",
                  "poll_interval_seconds", "timeout_seconds", "enabled", "breaker_ratings_amperes",
                  "rated_voltage_volts", "rated_power_watts", "rated_heat_removal_watts", "simulated", "health",
                  "retired_at"]

    def get_has_secret(self, meter) -> bool:
        return bool(meter.secret)

    def get_health(self, meter) -> dict:
        return meter_status(meter)

    def validate_secret(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate_settings(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate(self, attrs):
        self._refuse_secret_for_another_host(attrs)
        # Run the model's cross-field rules on the merged state, reported under the field they name.
        candidate = FacilityMeter(**{f.attname: getattr(self.instance, f.attname)
                                     for f in FacilityMeter._meta.concrete_fields} if self.instance else {})
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        # Each protocol checks its own settings (and secret) and fills in its defaults.
        if candidate.protocol != FacilityMeter.Protocol.PUSH:
            try:
                attrs["settings"] = get_source(candidate.protocol).validate_settings(candidate.settings,
                                                                                     candidate.secret)
            except SettingsError as exc:
                name = "secret" if exc.field.startswith("secret") else "settings"
                raise serializers.ValidationError({name: [str(exc)]}) from exc
        return attrs


    def _refuse_secret_for_another_host(self, attrs):
        # A stored credential belongs to the device it was given for: never send it to a new host unasked.
        meter = self.instance
        if meter is None or not meter.secret or "secret" in attrs:
            return
        if "host" in attrs and attrs["host"] != meter.host:
            raise serializers.ValidationError({"secret": [
                f"The host changes from {meter.host!r} to {attrs['host']!r}: give the secret for the new host "
                "again (or {} to clear it); the stored one is not sent to another host."]})


class PushedReadingSerializer(serializers.Serializer):
    quantity = serializers.ChoiceField(choices=sorted(QUANTITIES))
    # FloatField refuses what float64 cannot hold (an integer of 400 digits) and non-finite values; the bounds
    # are the ones node telemetry has, so rollups of meter readings stay finite too.
    value = serializers.FloatField(min_value=-MAX_MAGNITUDE, max_value=MAX_MAGNITUDE)
    channel = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    state = serializers.ChoiceField(choices=STATES, default="ok")


class PushedReadingsSerializer(serializers.Serializer):
    ts = serializers.DateTimeField(required=False, help_text="When measured; default: now")
    readings = PushedReadingSerializer(many=True, allow_empty=False)

    def validate_ts(self, value):
        # The window node agents get: a reading far in the past would be rolled up from there on.
        now = timezone.now()
        if value > now + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("is in the future; check the sender's clock")
        if value < now - OLDEST_ACCEPTED:
            raise serializers.ValidationError(f"is older than {OLDEST_ACCEPTED.days} days")
        return value


class CarbonIntensitySerializer(serializers.ModelSerializer):
    class Meta:
        model = CarbonIntensity
        fields = ["id", "site", "valid_from", "grams_co2e_per_kwh", "note"]

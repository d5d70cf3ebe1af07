from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from microdc.nodes.models import FacilityMeter


class FacilityMeterSerializer(serializers.ModelSerializer):
    secret = serializers.JSONField(
        write_only=True, required=False, help_text="Credentials (password, SNMPv3 keys, token); never returned."
    )
    has_secret = serializers.SerializerMethodField()
    site_slug = serializers.CharField(source="site.slug", read_only=True)

    class Meta:
        model = FacilityMeter
        fields = ["id", "site", "site_slug", "rack", "name", "kind", "boundary", "it_measurement_point",
                  "protocol", "host", "port", "settings", "secret", "has_secret", "poll_interval_seconds",
                  "timeout_seconds", "enabled", "simulated"]

    def get_has_secret(self, meter) -> bool:
        return bool(meter.secret)

    def validate_secret(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate_settings(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def validate(self, attrs):
        # Run the model's cross-field rules on the merged state, reported under the field they name.
        candidate = FacilityMeter(**{f.attname: getattr(self.instance, f.attname)
                                     for f in FacilityMeter._meta.concrete_fields} if self.instance else {})
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs

from rest_framework import serializers

from ..models import PowerLimitChange


class PowerLimitRequestSerializer(serializers.Serializer):
    watts = serializers.FloatField(help_text="The cap in watts, within the device's constraints.")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PowerLimitViewSerializer(serializers.Serializer):
    accelerator = serializers.IntegerField()
    uuid = serializers.CharField()
    managed = serializers.BooleanField(help_text="The appliance has set this device's limit (ever).")
    desired_watts = serializers.FloatField(allow_null=True, help_text="null: the device's default.")
    operator_watts = serializers.FloatField(allow_null=True)
    policy_watts = serializers.FloatField(allow_null=True)
    policy = serializers.CharField()
    enforced_watts = serializers.FloatField(allow_null=True, help_text="As the agent last reported it.")
    min_watts = serializers.FloatField(allow_null=True)
    max_watts = serializers.FloatField(allow_null=True)
    default_watts = serializers.FloatField(allow_null=True)
    agent_status = serializers.CharField(allow_null=True)
    agent_detail = serializers.CharField()
    differs_because = serializers.CharField(help_text="Why enforced and desired differ; empty when they agree.")


class PowerLimitChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PowerLimitChange
        fields = ["id", "accelerator", "at", "actor_name", "policy", "reason", "before_watts", "after_watts"]

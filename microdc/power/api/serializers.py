from rest_framework import serializers

from ..models import CapSweep, PowerLimitChange


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


class CapacitySerializer(serializers.Serializer):
    key = serializers.CharField()
    site = serializers.IntegerField()
    meter = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["breaker", "ups", "feed", "cooling", "site_feed"])
    quantity = serializers.CharField()
    unit = serializers.ChoiceField(choices=["A", "W"])
    rated = serializers.FloatField()
    limit = serializers.FloatField(help_text="The rating derated for continuous load (breakers).")
    measured = serializers.FloatField(allow_null=True, help_text="null: no fresh reading.")
    headroom = serializers.FloatField(allow_null=True)
    worst_case = serializers.FloatField(allow_null=True,
                                        help_text="Every accelerator behind it at its enforced limit, plus the "
                                                  "node overhead measured now.")
    worst_case_headroom = serializers.FloatField(allow_null=True)
    volts = serializers.FloatField(allow_null=True)
    nodes = serializers.ListField(child=serializers.IntegerField())
    accelerators = serializers.ListField(child=serializers.IntegerField())
    notes = serializers.ListField(child=serializers.CharField())


class CapSweepRequestSerializer(serializers.Serializer):
    apply = serializers.BooleanField(default=False, help_text="Set the proposed cap when the sweep ends.")
    throughput_floor = serializers.FloatField(default=0.9, help_text="Share of the uncapped tokens/s to keep.")
    steps = serializers.IntegerField(default=6)
    step_seconds = serializers.IntegerField(default=120)
    warmup_seconds = serializers.IntegerField(default=20)


class CapSweepSerializer(serializers.ModelSerializer):
    class Meta:
        model = CapSweep
        fields = ["id", "deployment", "status", "apply", "throughput_floor", "steps", "step_seconds",
                  "warmup_seconds", "caps", "accelerators", "step", "results", "proposed_watts", "applied", "error",
                  "created", "finished"]

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from ..models import Accelerator, Node, Rack, Site, validate_power_meter
from ..placement import validate_placement


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "name", "slug", "description", "address", "pue_target", "contracted_power_watts", "simulated"]


class RackSerializer(serializers.ModelSerializer):
    site_slug = serializers.CharField(source="site.slug", read_only=True)

    class Meta:
        model = Rack
        fields = ["id", "site", "site_slug", "name", "row", "position", "height_u", "simulated"]

    def validate(self, attrs):
        if self.instance is not None and "height_u" in attrs:
            tallest = max((node.top_u for node in self.instance.nodes.live()), default=0)
            if attrs["height_u"] < tallest:
                raise serializers.ValidationError(
                    {"height_u": f"Nodes in this rack reach U{tallest}; the rack must be at least {tallest}U."}
                )
        return attrs


class AcceleratorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Accelerator
        fields = ["id", "node", "kind", "vendor", "model", "uuid", "serial", "index", "memory_bytes",
                  "power_limit_watts", "embodied_kgco2e", "expected_life_years", "simulated", "retired_at"]

    def validate(self, attrs):
        # The index is unique among the node's live accelerators (the database constraint is conditional, so
        # DRF does not check it by itself).
        node = attrs.get("node", getattr(self.instance, "node", None))
        index = attrs.get("index", getattr(self.instance, "index", None))
        if node is not None and index is not None:
            taken = Accelerator.objects.live().filter(node=node, index=index)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError({"index": f"{node.hostname} already has an accelerator {index}."})
        return attrs


class NodeAcceleratorSerializer(AcceleratorSerializer):
    class Meta(AcceleratorSerializer.Meta):
        fields = [f for f in AcceleratorSerializer.Meta.fields if f != "node"]


class NodeSerializer(serializers.ModelSerializer):
    site = serializers.IntegerField(source="rack.site_id", read_only=True)
    site_slug = serializers.CharField(source="rack.site.slug", read_only=True)
    rack_name = serializers.CharField(source="rack.name", read_only=True)
    top_u = serializers.IntegerField(read_only=True)
    accelerators = NodeAcceleratorSerializer(many=True, read_only=True)
    has_agent_token = serializers.SerializerMethodField()

    class Meta:
        model = Node
        fields = ["id", "hostname", "management_address", "ssh_port", "ssh_user", "site", "site_slug", "rack",
                  "rack_name", "position_u", "height_u", "top_u", "status", "description", "simulated",
                  "has_agent_token", "accelerators", "embodied_kgco2e", "expected_life_years", "power_meter",
                  "power_meter_channel", "created", "retired_at"]
        read_only_fields = ["created"]

    def get_has_agent_token(self, node) -> bool:
        return bool(node.agent_token_hash)

    def validate(self, attrs):
        instance = self.instance
        rack = attrs.get("rack", instance.rack if instance else None)
        position_u = attrs.get("position_u", instance.position_u if instance else None)
        height_u = attrs.get("height_u", instance.height_u if instance else 1)
        if rack is not None and position_u is not None:
            try:
                validate_placement(rack, position_u, height_u, exclude_pk=instance.pk if instance else None)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        meter = attrs.get("power_meter", instance.power_meter if instance else None)
        channel = attrs.get("power_meter_channel", instance.power_meter_channel if instance else "")
        try:
            validate_power_meter(rack, meter, channel)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class NewNodeSerializer(NodeSerializer):
    """A created node, with the agent token that is shown this once."""

    agent_token = serializers.CharField(read_only=True, help_text="Shown once; give it to the node's agent.")

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "agent_token"]


class AgentTokenSerializer(serializers.Serializer):
    agent_token = serializers.CharField(read_only=True)

from rest_framework import serializers

from microdc.provisioning.masking import mask_url

from ..models import ModelServer


class ModelServerSerializer(serializers.ModelSerializer):
    deployment_name = serializers.CharField(source="deployment.name", read_only=True)
    node_hostname = serializers.CharField(source="node.hostname", read_only=True)
    metrics_url = serializers.SerializerMethodField()
    stale = serializers.SerializerMethodField()
    simulated = serializers.BooleanField(source="node.simulated", read_only=True)
    counters = serializers.SerializerMethodField(help_text="The latest scraped canonical counters (absent: unknown).")
    counters_ts = serializers.DateTimeField(source="source.last_ts", read_only=True, allow_null=True)

    class Meta:
        model = ModelServer
        fields = ["id", "deployment", "deployment_name", "node", "node_hostname", "runtime", "model_name",
                  "metrics_url", "active", "stale", "stale_reason", "consecutive_failures", "last_attempt",
                  "last_success", "simulated", "source", "counters", "counters_ts"]
        read_only_fields = fields

    def get_metrics_url(self, server) -> str:
        return mask_url(server.metrics_url)

    def get_stale(self, server) -> bool:
        """Not scraped successfully yet, or the last scrape failed."""
        return bool(server.stale_reason) or server.last_success is None

    def get_counters(self, server) -> dict[str, float]:
        return dict(server.source.last_values) if server.source_id else {}

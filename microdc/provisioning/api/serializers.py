import re

import httpx
from rest_framework import serializers

from microdc.core.roles import Role, has_role
from microdc.nodes.models import Accelerator, Node
from microdc.power.placement import PlacementError, place

from .. import url_policy
from ..artifacts import ArtifactError, load_public_key
from ..environment import refused
from ..masking import mask_env, mask_summary, mask_url
from ..models import NAME_PATTERN, Deployment, DeploymentRevision, Job, JobEvent, Runtime, SigningKey

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_ARG_LENGTH = 4096


def check_args(value):
    """A list of words, never a shell string: each word reaches the runtime's argv as it is."""
    if not isinstance(value, list):
        raise serializers.ValidationError("must be a list of strings (argv words), not a shell string")
    if len(value) > 128:
        raise serializers.ValidationError("at most 128 arguments")
    for i, word in enumerate(value):
        if not isinstance(word, str):
            raise serializers.ValidationError(f"[{i}] must be a string")
        if len(word) > MAX_ARG_LENGTH or "\x00" in word or "\n" in word:
            raise serializers.ValidationError(f"[{i}] must be one line of at most {MAX_ARG_LENGTH} characters")
    return value


def check_env(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be an object of NAME: value strings")
    for name, text in value.items():
        if not ENV_NAME.match(name):
            raise serializers.ValidationError(f"{name!r} is not an environment variable name (A-Z, 0-9, _)")
        if not isinstance(text, str) or len(text) > MAX_ARG_LENGTH or "\x00" in text or "\n" in text:
            raise serializers.ValidationError(f"{name}: must be one line of text")
    loaders = refused(value)
    if loaders:
        raise serializers.ValidationError(f"{', '.join(loaders)}: may not be set (they make the model server "
                                          "load code from elsewhere)")
    return value


def may_see_secrets(context) -> bool:
    """Operators and admins write environments and artifact URLs, so they read them; viewers get them masked,
    and so does anything serialized without a request (fail closed)."""
    request = context.get("request")
    return request is not None and has_role(request.user, Role.OPERATOR)


class SigningKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = SigningKey
        fields = ["id", "name", "public_key", "created"]
        read_only_fields = ["created"]

    def validate_public_key(self, value):
        try:
            load_public_key(value)
        except ArtifactError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value.strip()


class PlacementRequestSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=64, help_text="Accelerators the server needs.")
    kind = serializers.ChoiceField(choices=Accelerator.Kind.choices, default=Accelerator.Kind.GPU)


class RevisionSerializer(serializers.ModelSerializer):
    nodes = serializers.SlugRelatedField(many=True, slug_field="hostname", queryset=Node.objects.live(),
                                         required=False)
    placement = serializers.JSONField(
        required=False, help_text='Instead of nodes and accelerators: {"count": N, "kind": "gpu"} places the server '
                                  "by headroom; reads back as the choice and its reasons.")
    args = serializers.JSONField(default=list, validators=[check_args])
    env = serializers.JSONField(default=dict, validators=[check_env])

    class Meta:
        model = DeploymentRevision
        fields = ["id", "number", "artifact", "artifact_sha256", "artifact_signature", "signing_key", "nodes",
                  "accelerators", "placement", "port", "args", "env", "note", "created", "created_by"]
        read_only_fields = ["number", "created", "created_by"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_see_secrets(self.context):
            data["env"] = mask_env(data["env"])
            data["artifact"] = mask_url(data["artifact"])
        return data

    def validate_artifact(self, value):
        if not (value.startswith(("http://", "https://", "/"))):
            raise serializers.ValidationError("an absolute path on the appliance or an http(s):// URL")
        if any(c in value for c in "\n\r\x00"):
            raise serializers.ValidationError("must be one line")
        if value.startswith(("http://", "https://")):
            try:  # what can be told without DNS; the worker checks the resolved addresses again
                url_policy.check(httpx.URL(value), resolve=False)
            except (httpx.InvalidURL, url_policy.UrlRefused) as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_accelerators(self, value):
        if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 64
                                                  for i in value):
            raise serializers.ValidationError("a list of accelerator indices (0-63)")
        return value

    def validate_nodes(self, value):
        if not value:
            raise serializers.ValidationError("name at least one node")
        inactive = [n.hostname for n in value if n.status != Node.Status.ACTIVE]
        if inactive:
            raise serializers.ValidationError(f"not active: {', '.join(inactive)}")
        return value

    def validate_placement(self, value):
        request = PlacementRequestSerializer(data=value)
        if not isinstance(value, dict) or not request.is_valid():
            raise serializers.ValidationError(request.errors if isinstance(value, dict) else
                                              'must be an object {"count": N, "kind": "gpu"}')
        return request.validated_data

    def _place(self, attrs):
        if attrs.get("nodes") or attrs.get("accelerators"):
            raise serializers.ValidationError({"placement": "name nodes and accelerators, or ask for a placement; "
                                                            "not both"})
        wanted = attrs["placement"]
        try:
            chosen = place(wanted["count"], wanted["kind"], exclude=self.context.get("deployment"))
        except PlacementError as exc:
            raise serializers.ValidationError({"placement": str(exc)}) from exc
        attrs.update(nodes=[chosen["node"]], accelerators=chosen["accelerators"], placement=chosen["record"])

    def validate(self, attrs):
        if "placement" in attrs:
            self._place(attrs)
        elif not attrs.get("nodes"):
            raise serializers.ValidationError({"nodes": "name at least one node, or ask for a placement"})
        if attrs.get("artifact_signature") and not attrs.get("signing_key"):
            raise serializers.ValidationError({"signing_key": "a signed artifact needs the trusted key to check it"})
        indices = attrs.get("accelerators") or []
        for node in attrs.get("nodes") or []:
            present = set(node.accelerators.values_list("index", flat=True))
            missing = [i for i in indices if i not in present]
            if missing:
                raise serializers.ValidationError({"accelerators": f"{node.hostname} has no accelerator {missing}"})
        return attrs


class DeploymentSerializer(serializers.ModelSerializer):
    name = serializers.RegexField(NAME_PATTERN, max_length=48)
    runtime = serializers.ChoiceField(choices=Runtime.choices)
    revision = RevisionSerializer(write_only=True, help_text="The first revision.")
    current_revision = RevisionSerializer(read_only=True)
    last_job = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = ["id", "name", "runtime", "status", "priority", "revision", "current_revision", "endpoints",
                  "created", "created_by", "last_job"]
        read_only_fields = ["status", "endpoints", "created", "created_by"]

    def get_last_job(self, deployment) -> int | None:
        job = deployment.jobs.order_by("-created").first()
        return job.pk if job else None

    def validate_name(self, value):
        if Deployment.objects.filter(name=value).exclude(status=Deployment.Status.REMOVED).exists():
            raise serializers.ValidationError(f"a deployment named {value} exists")
        return value


class JobSerializer(serializers.ModelSerializer):
    nodes = serializers.SlugRelatedField(many=True, slug_field="hostname", read_only=True)
    revision_number = serializers.IntegerField(source="revision.number", read_only=True, default=None)
    summary = serializers.SerializerMethodField(help_text="What happened; environment values and URL "
                                                          "credentials masked for every role.")

    class Meta:
        model = Job
        fields = ["id", "kind", "status", "deployment", "revision", "revision_number", "nodes", "created",
                  "created_by", "started", "finished", "cancel_requested", "host_results", "summary"]

    def get_summary(self, job) -> str:
        return mask_summary(job)


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["counter", "event", "host", "task", "stdout", "created"]


class RollbackSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, help_text="Number of the earlier revision to go back to.")

from django.contrib.auth import password_validation
from rest_framework import serializers

from ..models import ApiToken, AuditEvent, User


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "email", "role", "is_active", "password",
                  "last_login", "date_joined"]
        read_only_fields = ["last_login", "date_joined"]

    def validate(self, attrs):
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": "A password is required for a new user."})
        if password := attrs.get("password"):
            user = User(**{k: v for k, v in attrs.items() if k != "password"})
            try:
                password_validation.validate_password(password, user)
            except Exception as exc:  # django ValidationError: report under the field
                raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs

    def create(self, validated_data):
        password = validated_data.pop("password")
        user = User(**validated_data)
        user.set_password(password)
        user.save()
        return user

    def update(self, instance, validated_data):
        password = validated_data.pop("password", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if password:
            instance.set_password(password)
        instance.save()
        return instance


class ApiTokenSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_id", "username", "created", "expires", "last_used", "revoked", "is_active"]
        read_only_fields = ["key_id", "created", "last_used", "revoked"]


class NewApiTokenSerializer(ApiTokenSerializer):
    """The one response that carries the key."""

    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class ObtainTokenSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    expires = serializers.DateTimeField(required=False, allow_null=True)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "timestamp", "actor", "actor_name", "source", "action", "object_type", "object_id",
                  "object_repr", "changes", "remote_addr"]

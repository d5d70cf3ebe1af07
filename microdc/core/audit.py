"""The audit log service: who changed what, when, and which fields, with secrets masked.

Called explicitly by the API viewsets and admin classes that change objects (no signals), inside the same
transaction as the change, so a rolled-back change leaves no audit record.
"""

import datetime
import decimal
import uuid
from typing import Any

from django.db import models

from . import clients
from .models import AuditEvent

MASK = "********"
# Any field whose name contains one of these is masked even if a model forgets to declare it.
_SECRET_WORDS = ("password", "secret", "token", "key_hash", "private_key")


def is_secret_field(instance: models.Model, name: str) -> bool:
    declared = getattr(instance, "audit_secret_fields", ())
    return name in declared or any(word in name for word in _SECRET_WORDS)


def masked(instance: models.Model | type[models.Model], name: str, value: Any) -> Any:
    """A field's value as the audit log keeps it. A model may declare `audit_maskers` ({field: function}) for
    values that are partly secret (an environment's values, a URL's credentials)."""
    masker = getattr(instance, "audit_maskers", {}).get(name)
    return masker(value) if masker is not None and value not in (None, "", {}) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """Concrete field values (foreign keys as their primary key), JSON-ready."""
    return {
        field.attname: _jsonable(getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
    }


def diff(instance: models.Model, before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict]:
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if is_secret_field(instance, name):
            changes[name] = {"old": MASK if old not in (None, "", {}) else old, "new": MASK}
        else:
            changes[name] = {"old": masked(instance, name, old), "new": masked(instance, name, new)}
    return changes


def record(
    *,
    actor,
    source: str,
    action: str,
    instance: models.Model,
    changes: dict | None = None,
    remote_addr: str | None = None,
) -> AuditEvent:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        source=source,
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes=changes or {},
        remote_addr=remote_addr,
    )


def client_address(request) -> str | None:
    return clients.client_address(request) if request is not None else None

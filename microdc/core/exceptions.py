from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from .admins import LastAdminError

# How many of the objects that still refer to a deleted one a 409 names.
NAMED_REFERENCES = 5


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def exception_handler(exc, context):
    """DRF's handler, plus model validation (Model.clean) errors as a 400 naming the fields, a delete that a
    protecting foreign key refuses as a 409 naming what still refers to the object, and a change that would
    leave no active admin as a 409 that says so."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = Conflict(_still_referred_to(exc))
    elif isinstance(exc, LastAdminError):
        exc = Conflict(str(exc))
    return drf_exception_handler(exc, context)


def _still_referred_to(exc: ProtectedError | RestrictedError) -> str:
    referring = list(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
    by_kind: dict[str, list[str]] = {}
    for obj in referring:
        by_kind.setdefault(str(obj._meta.verbose_name_plural), []).append(str(obj))
    parts = []
    for kind, names in sorted(by_kind.items()):
        shown = ", ".join(names[:NAMED_REFERENCES]) + (f" and {len(names) - NAMED_REFERENCES} more"
                                                        if len(names) > NAMED_REFERENCES else "")
        parts.append(f"{len(names)} {kind} ({shown})")
    return "Cannot delete: still referred to by " + "; ".join(parts) + ". Move or delete those first."

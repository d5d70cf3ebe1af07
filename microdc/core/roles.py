"""The three roles of ARCHITECTURE.md; what each may do to each model is microdc.core.policy.

viewer: facilities staff; reads everything, acknowledges alerts.
operator: viewer + deploys and removes model servers.
admin: everything: inventory, meters, users, tokens.
"""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def role_of(user) -> Role | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    return Role(user.role)


def has_role(user, required: Role) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[required]

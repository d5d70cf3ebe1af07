"""The API's role policy. Views say which role reads and which role writes; everything else is refused."""

from rest_framework import permissions

from .roles import Role, has_role

SAFE_ACTIONS = {"list", "retrieve", "metadata"}


class RolePermission(permissions.BasePermission):
    """Views declare `read_role` (default viewer), `write_role` (default admin) and optionally
    `action_roles` ({"acknowledge": Role.VIEWER}) for custom actions."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return has_role(request.user, required_role(request, view))


def required_role(request, view) -> Role:
    action = getattr(view, "action", None)
    action_roles = getattr(view, "action_roles", {})
    if action in action_roles:
        return action_roles[action]
    if request.method in permissions.SAFE_METHODS:
        return getattr(view, "read_role", Role.VIEWER)
    return getattr(view, "write_role", Role.ADMIN)

"""The API's role policy.

Views over a model (a `queryset`) answer from the model's entry in policy.POLICIES: list/retrieve need its view
role, create its add role, update its change role, destroy its delete role, and other actions its view role
(safe methods) or change role, unless `action_roles` ({"cancel": Role.OPERATOR}) names one. Views without a
model declare `read_role` (default viewer) and `write_role` (default admin). Everything else is refused.
"""

from django.core.exceptions import ImproperlyConfigured
from rest_framework import permissions

from . import policy
from .roles import Role, has_role

MODEL_ACTIONS = {"list": "view", "retrieve": "view", "metadata": "view", "create": "add", "update": "change",
                 "partial_update": "change", "destroy": "delete"}


class RolePermission(permissions.BasePermission):
    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        required = required_role(request, view)
        return required is not None and has_role(request.user, required)


def view_model(view):
    queryset = getattr(view, "queryset", None)
    return queryset.model if queryset is not None else None


def required_role(request, view) -> Role | None:
    action = getattr(view, "action", None)
    action_roles = getattr(view, "action_roles", {})
    if action in action_roles:
        return action_roles[action]
    model = view_model(view)
    if model is None:
        if request.method in permissions.SAFE_METHODS:
            return getattr(view, "read_role", Role.VIEWER)
        return getattr(view, "write_role", Role.ADMIN)
    if hasattr(view, "read_role") or hasattr(view, "write_role"):
        raise ImproperlyConfigured(f"{type(view).__name__} serves {model._meta.label}: its roles come from "
                                   "microdc.core.policy, not read_role/write_role")
    model_action = MODEL_ACTIONS.get(action)
    if model_action is None:
        model_action = "view" if request.method in permissions.SAFE_METHODS else "change"
    return policy.policy_for(model).required(model_action)
